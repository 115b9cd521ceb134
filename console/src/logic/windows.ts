// An account's usage windows (Claude 5-hour/7-day, Codex primary/secondary) as bars: the
// report the server keeps, read the way the server reads it (utilisation in percent).

export interface UsageWindow {
  name: string
  percent: number
  resets_at: string | null
}

type Obj = Record<string, unknown>
const obj = (v: unknown): Obj | null => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : null)

export function usageWindows(report: unknown): UsageWindow[] {
  const top = obj(report)
  if (!top) return []
  const body = obj(top.report) ?? top
  const out: UsageWindow[] = []
  const push = (name: string, w: Obj | null, field: string, reset: string | null) => {
    const v = w?.[field]
    if (typeof v === 'number') out.push({ name, percent: v, resets_at: reset })
  }
  for (const name of ['five_hour', 'seven_day', 'seven_day_opus', 'seven_day_sonnet']) {
    const w = obj(body[name])
    push(name, w, 'utilization', typeof w?.resets_at === 'string' ? w.resets_at : null)
  }
  for (const name of ['primary', 'secondary']) {
    const w = obj(body[name])
    push(name, w, 'used_percent', typeof w?.resets_at === 'string' ? w.resets_at : null)
  }
  const rl = obj(body.rate_limit)
  for (const name of ['primary_window', 'secondary_window']) {
    const w = obj(rl?.[name])
    const at = w?.reset_at
    push(name, w, 'used_percent', typeof at === 'number' ? new Date(at * 1000).toISOString() : null)
  }
  return out
}
