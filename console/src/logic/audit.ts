// The audit log's `{before, after}` detail as a list of changed fields (secrets arrive masked).

export interface Change {
  field: string
  before: string
  after: string
}

const show = (v: unknown): string => (v === undefined || v === null ? '—' : typeof v === 'object' ? JSON.stringify(v) : String(v))

export function changes(detail: string | null): Change[] {
  if (!detail) return []
  let parsed: unknown
  try {
    parsed = JSON.parse(detail)
  } catch {
    return [{ field: '', before: '', after: detail }]
  }
  if (!parsed || typeof parsed !== 'object' || !('before' in parsed || 'after' in parsed)) {
    return [{ field: '', before: '', after: show(parsed) }]
  }
  const { before, after } = parsed as { before: unknown; after: unknown }
  const b = (before && typeof before === 'object' ? before : {}) as Record<string, unknown>
  const a = (after && typeof after === 'object' ? after : {}) as Record<string, unknown>
  const fields = [...new Set([...Object.keys(b), ...Object.keys(a)])].sort()
  const out = fields
    .filter((f) => JSON.stringify(b[f]) !== JSON.stringify(a[f]))
    .map((f) => ({ field: f, before: show(b[f]), after: show(a[f]) }))
  if (!out.length && before === null && after !== null) return [{ field: '', before: '—', after: show(after) }]
  return out
}
