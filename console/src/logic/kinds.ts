// The fields each account kind takes on its add form: secrets (write-only, sent under
// `credentials`), settings (`extra`) and whether it has a base URL.

export const KINDS = [
  'claude-official',
  'claude',
  'openai',
  'openai-responses',
  'gemini',
  'gemini-api',
  'azure',
  'bedrock',
] as const
export type Kind = (typeof KINDS)[number]

export type Secret =
  | 'api_key'
  | 'access_token'
  | 'refresh_token'
  | 'session_key'
  | 'aws_access_key_id'
  | 'aws_secret_access_key'
  | 'aws_session_token'
  | 'client_secret'
export type Extra = 'deployment' | 'api_version' | 'region' | 'project' | 'client_id'

export interface KindFields {
  secrets: Secret[]
  extra: Extra[]
  baseUrl: boolean
}

export const FIELDS: Record<Kind, KindFields> = {
  'claude-official': { secrets: ['access_token', 'refresh_token', 'session_key'], extra: [], baseUrl: false },
  claude: { secrets: ['api_key'], extra: [], baseUrl: true },
  openai: { secrets: ['api_key'], extra: [], baseUrl: true },
  'openai-responses': { secrets: ['access_token', 'refresh_token', 'api_key'], extra: [], baseUrl: false },
  gemini: { secrets: ['access_token', 'refresh_token', 'client_secret'], extra: ['project', 'client_id'], baseUrl: false },
  'gemini-api': { secrets: ['api_key'], extra: [], baseUrl: true },
  azure: { secrets: ['api_key'], extra: ['deployment', 'api_version'], baseUrl: true },
  bedrock: { secrets: ['aws_access_key_id', 'aws_secret_access_key', 'aws_session_token', 'api_key'], extra: ['region'], baseUrl: false },
}

export interface AccountForm {
  kind: Kind
  name: string
  base_url: string
  priority: string
  weight: string
  max_concurrency: string
  allowed_models: string
  proxy_url: string
  secrets: Partial<Record<Secret, string>>
  extra: Partial<Record<Extra, string>>
}

export function newAccountForm(kind: Kind = 'claude'): AccountForm {
  return { kind, name: '', base_url: '', priority: '', weight: '', max_concurrency: '', allowed_models: '', proxy_url: '', secrets: {}, extra: {} }
}

/** The body of `POST /accounts` for a form: only the fields its kind takes, empty ones left out. */
export function accountBody(f: AccountForm): Record<string, unknown> {
  const fields = FIELDS[f.kind]
  const body: Record<string, unknown> = { kind: f.kind, name: f.name.trim() }
  const n = (v: string) => (v.trim() === '' ? undefined : Number(v))
  if (fields.baseUrl && f.base_url.trim()) body.base_url = f.base_url.trim()
  if (n(f.priority) !== undefined) body.priority = n(f.priority)
  if (n(f.weight) !== undefined) body.weight = n(f.weight)
  if (n(f.max_concurrency) !== undefined) body.max_concurrency = n(f.max_concurrency)
  if (f.proxy_url.trim()) body.proxy_url = f.proxy_url.trim()
  const models = f.allowed_models.split(/[\s,]+/).filter(Boolean)
  if (models.length) body.allowed_models = models
  const credentials: Record<string, string> = {}
  for (const s of fields.secrets) {
    const v = f.secrets[s]?.trim()
    if (v) credentials[s] = v
  }
  body.credentials = credentials
  const extra: Record<string, string> = {}
  for (const e of fields.extra) {
    const v = f.extra[e]?.trim()
    if (v) extra[e] = v
  }
  if (Object.keys(extra).length) body.extra = extra
  return body
}

/** A form holding an account's current settings (secrets stay empty: they are write-only). */
export function editForm(a: {
  kind: Kind
  name: string
  base_url: string | null
  priority: number
  weight: number
  max_concurrency: number
  allowed_models: string[]
  proxy_url: string | null
  extra: Record<string, unknown>
}): AccountForm {
  const extra: Partial<Record<Extra, string>> = {}
  for (const e of FIELDS[a.kind].extra) {
    const v = a.extra[e]
    if (typeof v === 'string') extra[e] = v
  }
  return {
    kind: a.kind,
    name: a.name,
    base_url: a.base_url ?? '',
    priority: String(a.priority),
    weight: String(a.weight),
    max_concurrency: String(a.max_concurrency),
    allowed_models: a.allowed_models.join(', '),
    proxy_url: a.proxy_url ?? '',
    secrets: {},
    extra,
  }
}

/** The body of `PATCH /accounts/{id}`: every setting, and only the secrets typed anew. */
export function patchBody(f: AccountForm): Record<string, unknown> {
  const full = accountBody(f)
  const body: Record<string, unknown> = {
    name: full.name,
    priority: full.priority,
    weight: full.weight,
    max_concurrency: full.max_concurrency,
    allowed_models: full.allowed_models ?? [],
    proxy_url: full.proxy_url ?? null,
  }
  if (FIELDS[f.kind].baseUrl) body.base_url = full.base_url ?? null
  if (full.extra) body.extra = full.extra
  const credentials = full.credentials as Record<string, string>
  if (Object.keys(credentials).length) body.credentials = credentials
  return body
}
