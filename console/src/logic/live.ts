// The admin API's GET /live, and ranking helpers for "top by cost today".

export interface SpendLive {
  id: number
  in_flight: number
  today_usd: number
  this_week_usd: number
  total_usd: number
}

export interface Live {
  at: string
  in_flight: number
  accounts: { id: number; in_flight: number; max_concurrency: number; sticky_sessions: number }[]
  keys: SpendLive[]
  users: SpendLive[]
  health: {
    enabled: boolean
    interval_minutes: number
    last_round_at: string | null
    next_round_at: string | null
    failing: number[]
  }
}

/** The `n` entries that spent most today (those that spent nothing left out), with names. */
export function topToday(
  rows: SpendLive[],
  names: Map<number, string>,
  n = 5,
): { id: number; name: string; today_usd: number }[] {
  return rows
    .filter((r) => r.today_usd > 0)
    .sort((a, b) => b.today_usd - a.today_usd || a.id - b.id)
    .slice(0, n)
    .map((r) => ({ id: r.id, name: names.get(r.id) ?? `#${r.id}`, today_usd: r.today_usd }))
}

/** Share of a limit used, 0–1 (`null` when there is no limit). */
export function share(used: number, limit: number | null | undefined): number | null {
  if (limit === null || limit === undefined || limit <= 0) return null
  return Math.min(1, used / limit)
}
