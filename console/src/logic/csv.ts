// CSV of usage records (RFC 4180 quoting).
export const USAGE_COLUMNS = [
  'created_at', 'request_id', 'api_key_id', 'user_id', 'account_id', 'dialect', 'endpoint',
  'requested_model', 'upstream_model', 'input_tokens', 'output_tokens', 'cache_creation_5m_tokens',
  'cache_creation_1h_tokens', 'cache_read_tokens', 'reasoning_tokens', 'cost_usd', 'stream',
  'status', 'error_kind', 'attempts', 'ttfb_ms', 'duration_ms',
] as const

function cell(v: unknown): string {
  if (v === null || v === undefined) return ''
  const s = String(v)
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}

export function toCsv(rows: Record<string, unknown>[]): string {
  const lines = [USAGE_COLUMNS.join(',')]
  for (const r of rows) lines.push(USAGE_COLUMNS.map((c) => cell(r[c])).join(','))
  return lines.join('\r\n') + '\r\n'
}
