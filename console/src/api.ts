// The console's only way to the server: the admin API under /api/admin (cookie session plus
// the CSRF token on every change) and the key holder's /api/self/usage. Errors arrive as
// problem+json and are thrown as ApiError, naming the field when the server does.
import { ref } from 'vue'

export interface Problem {
  type?: string
  title?: string
  status: number
  detail?: string
  field?: string
}

export class ApiError extends Error {
  status: number
  field?: string
  constructor(p: Problem) {
    super(p.detail || p.title || `HTTP ${p.status}`)
    this.status = p.status
    this.field = p.field
  }
}

export interface UserLimits {
  daily_cost_limit_usd?: number | null
  weekly_cost_limit_usd?: number | null
  total_cost_limit_usd?: number | null
  concurrency_limit?: number | null
  [k: string]: unknown
}

export interface UserView {
  id: number
  name: string
  role: 'admin' | 'user'
  status: string
  limits: UserLimits
  created_at: string
}

export interface SessionView {
  user: UserView
  kind: string
  expires_at: string | null
  manages_own_keys?: boolean
}

const CSRF = 'sy.csrf'
/** The signed-in user; `null` when nobody is. */
export const session = ref<SessionView | null>(null)

export function setCsrf(token: string | null): void {
  if (token) sessionStorage.setItem(CSRF, token)
  else sessionStorage.removeItem(CSRF)
}

async function parse(res: Response): Promise<unknown> {
  const text = await res.text()
  if (!text) return undefined
  try {
    return JSON.parse(text)
  } catch {
    return { status: res.status, detail: text }
  }
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' }
  if (body !== undefined) headers['content-type'] = 'application/json'
  if (method !== 'GET') headers['x-csrf-token'] = sessionStorage.getItem(CSRF) ?? ''
  const res = await fetch(`/api/admin${path}`, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const data = await parse(res)
  if (!res.ok) {
    if (res.status === 401 && path !== '/login') session.value = null
    throw new ApiError({ status: res.status, ...(data as object) })
  }
  return data as T
}

/** Query string of the defined, non-empty values. */
export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v))
  }
  const s = q.toString()
  return s ? `?${s}` : ''
}

export async function loadSession(): Promise<SessionView | null> {
  try {
    session.value = await api<SessionView>('GET', '/session')
  } catch {
    session.value = null
  }
  return session.value
}

export async function signIn(username: string, password: string): Promise<SessionView> {
  const r = await api<{ csrf_token: string; user: UserView; expires_at: string }>('POST', '/login', {
    username,
    password,
  })
  setCsrf(r.csrf_token)
  session.value = { user: r.user, kind: 'session', expires_at: r.expires_at }
  return session.value
}

export async function signOut(): Promise<void> {
  try {
    await api('POST', '/logout')
  } finally {
    setCsrf(null)
    session.value = null
  }
}

/** `/api/self/usage` with a key held in memory only. */
export async function selfUsage<T>(key: string): Promise<T> {
  const res = await fetch('/api/self/usage?limit=200', {
    headers: { authorization: `Bearer ${key}` },
    credentials: 'omit',
  })
  const data = (await parse(res)) as { error?: { message?: string } } | undefined
  if (!res.ok) {
    throw new ApiError({ status: res.status, detail: data?.error?.message ?? `HTTP ${res.status}` })
  }
  return data as T
}
