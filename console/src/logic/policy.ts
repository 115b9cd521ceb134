// The key policy editor's model: a form of strings (what inputs hold) to and from the API's
// KeyPolicy, with each field's error named, and the preview of which models a glob admits.

export interface KeyPolicy {
  expires_at: string | null
  expires_after_seconds: number | null
  allowed_models: string[]
  allowed_dialects: string[]
  allowed_clients: string[]
  concurrency_limit: number
  rate_limit_per_minute: number
  tokens_per_minute: number
  daily_cost_limit_usd: number | null
  weekly_cost_limit_usd: number | null
  total_cost_limit_usd: number | null
  bound_account_id: number | null
  bound_group_id: number | null
  pool_fallback: boolean
  cross_dialect: CrossDialect | null
}

/** A key's own `cross_dialect`; null follows the server's setting. */
export type CrossDialect = 'off' | 'fallback' | 'any'
export const CROSS_DIALECT = ['off', 'fallback', 'any'] as const

export const DIALECTS = ['anthropic', 'openai-chat', 'openai-responses', 'gemini'] as const
export const CLIENTS = ['claude_code', 'codex_cli', 'gemini_cli'] as const

export interface PolicyForm {
  expires_at: string
  expires_after_days: string
  allowed_models: string
  allowed_dialects: string[]
  allowed_clients: string[]
  concurrency_limit: string
  rate_limit_per_minute: string
  tokens_per_minute: string
  daily_cost_limit_usd: string
  weekly_cost_limit_usd: string
  total_cost_limit_usd: string
  bound_account_id: string
  bound_group_id: string
  pool_fallback: boolean
  /** '' follows the server's setting. */
  cross_dialect: '' | CrossDialect
}

export function emptyForm(): PolicyForm {
  return toForm(null)
}

/** An instant as a `datetime-local` input holds it: the browser's zone, to the minute. */
export function localInput(iso: string): string {
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return ''
  const p = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`
}

const str = (v: number | null | undefined): string => (v === null || v === undefined || v === 0 ? '' : String(v))

export function toForm(p: KeyPolicy | null): PolicyForm {
  return {
    expires_at: p?.expires_at ? localInput(p.expires_at) : '',
    expires_after_days: p?.expires_after_seconds ? String(p.expires_after_seconds / 86400) : '',
    allowed_models: (p?.allowed_models ?? []).join(', '),
    allowed_dialects: [...(p?.allowed_dialects ?? [])],
    allowed_clients: [...(p?.allowed_clients ?? [])],
    concurrency_limit: str(p?.concurrency_limit),
    rate_limit_per_minute: str(p?.rate_limit_per_minute),
    tokens_per_minute: str(p?.tokens_per_minute),
    daily_cost_limit_usd: str(p?.daily_cost_limit_usd),
    weekly_cost_limit_usd: str(p?.weekly_cost_limit_usd),
    total_cost_limit_usd: str(p?.total_cost_limit_usd),
    bound_account_id: str(p?.bound_account_id),
    bound_group_id: str(p?.bound_group_id),
    pool_fallback: p?.pool_fallback ?? false,
    cross_dialect: p?.cross_dialect ?? '',
  }
}

/** Splits a list typed with commas, spaces or new lines. */
export function list(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean)
}

export type FieldErrors = Partial<Record<keyof PolicyForm, 'number' | 'whole' | 'date'>>

/** The policy a form describes, or the fields that do not parse. */
export function fromForm(f: PolicyForm): { policy?: KeyPolicy; errors: FieldErrors } {
  const errors: FieldErrors = {}
  const whole = (k: keyof PolicyForm): number => {
    const v = String(f[k]).trim()
    if (!v) return 0
    const n = Number(v)
    if (!Number.isInteger(n) || n < 0) errors[k] = 'whole'
    return n
  }
  const money = (k: keyof PolicyForm): number | null => {
    const v = String(f[k]).trim()
    if (!v) return null
    const n = Number(v)
    if (!Number.isFinite(n) || n < 0) errors[k] = 'number'
    return n
  }
  const id = (k: keyof PolicyForm): number | null => {
    const n = whole(k)
    return n === 0 ? null : n
  }
  let expires_at: string | null = null
  if (f.expires_at.trim()) {
    const d = new Date(f.expires_at)
    if (Number.isNaN(d.getTime())) errors.expires_at = 'date'
    else expires_at = d.toISOString()
  }
  let expires_after_seconds: number | null = null
  if (f.expires_after_days.trim()) {
    const days = Number(f.expires_after_days)
    if (!Number.isFinite(days) || days <= 0) errors.expires_after_days = 'number'
    else expires_after_seconds = Math.round(days * 86400)
  }
  const policy: KeyPolicy = {
    expires_at,
    expires_after_seconds,
    allowed_models: list(f.allowed_models),
    allowed_dialects: f.allowed_dialects.filter((d) => (DIALECTS as readonly string[]).includes(d)),
    allowed_clients: [...f.allowed_clients],
    concurrency_limit: whole('concurrency_limit'),
    rate_limit_per_minute: whole('rate_limit_per_minute'),
    tokens_per_minute: whole('tokens_per_minute'),
    daily_cost_limit_usd: money('daily_cost_limit_usd'),
    weekly_cost_limit_usd: money('weekly_cost_limit_usd'),
    total_cost_limit_usd: money('total_cost_limit_usd'),
    bound_account_id: id('bound_account_id'),
    bound_group_id: id('bound_group_id'),
    pool_fallback: f.pool_fallback,
    cross_dialect: f.cross_dialect === '' ? null : f.cross_dialect,
  }
  return Object.keys(errors).length ? { errors } : { policy, errors }
}

/** Whether `model` matches a glob with `*` (any run) and `?` (one character), as the server does. */
export function globMatch(pattern: string, model: string): boolean {
  const re = new RegExp(
    '^' +
      pattern
        .split('')
        .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
        .join('') +
      '$',
  )
  return re.test(model)
}

/** The known models a list of patterns admits (all of them when the list is empty). */
export function admitted(patterns: string[], known: string[]): string[] {
  if (patterns.length === 0) return known
  return known.filter((m) => patterns.some((p) => globMatch(p, m)))
}
