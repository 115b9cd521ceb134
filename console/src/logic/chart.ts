// Shapes the admin API's usage aggregates into chart series: one point per bucket (empty
// buckets filled with zero), one series per group, the largest groups kept and the rest summed
// as "other".

export interface Aggregate {
  bucket_start: string | null
  group: string | null
  requests: number
  errors: number
  input_tokens: number
  output_tokens: number
  cache_creation_tokens: number
  cache_read_tokens: number
  reasoning_tokens: number
  cost_usd: number
  p50_duration_ms: number
  p95_duration_ms: number
  p50_ttfb_ms: number
  p95_ttfb_ms: number
}

export type Metric = 'requests' | 'tokens' | 'cost_usd' | 'errors'

export interface Series {
  name: string
  values: number[]
}

export interface ChartData {
  buckets: string[]
  series: Series[]
}

export function value(a: Aggregate, m: Metric): number {
  if (m === 'tokens') {
    return a.input_tokens + a.output_tokens + a.cache_creation_tokens + a.cache_read_tokens
  }
  return a[m]
}

/** Bucket starts from `from` (inclusive) to `to` (exclusive), every `step` milliseconds. */
export function bucketStarts(from: Date, to: Date, step: number): string[] {
  const out: string[] = []
  const start = Math.floor(from.getTime() / step) * step
  for (let t = start; t < to.getTime(); t += step) out.push(new Date(t).toISOString())
  return out
}

const key = (iso: string): number => Math.floor(new Date(iso).getTime() / 1000)

export function shape(rows: Aggregate[], buckets: string[], metric: Metric, top = 5): ChartData {
  const index = new Map(buckets.map((b, i) => [key(b), i]))
  const totals = new Map<string, number>()
  for (const r of rows) {
    const g = r.group ?? '—'
    totals.set(g, (totals.get(g) ?? 0) + value(r, metric))
  }
  const ranked = [...totals.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
  const kept = new Set(ranked.slice(0, top).map(([g]) => g))
  const byName = new Map<string, number[]>()
  for (const [g] of ranked.slice(0, top)) byName.set(g, buckets.map(() => 0))
  for (const r of rows) {
    if (!r.bucket_start) continue
    const i = index.get(key(r.bucket_start))
    if (i === undefined) continue
    const g = r.group ?? '—'
    const name = kept.has(g) ? g : 'other'
    if (!byName.has(name)) byName.set(name, buckets.map(() => 0))
    const vals = byName.get(name)
    if (vals) vals[i] += value(r, metric)
  }
  return { buckets, series: [...byName.entries()].map(([name, values]) => ({ name, values })) }
}

/** Totals over every row. */
export function totals(rows: Aggregate[]): { requests: number; errors: number; tokens: number; cost: number } {
  return rows.reduce(
    (t, r) => ({
      requests: t.requests + r.requests,
      errors: t.errors + r.errors,
      tokens: t.tokens + value(r, 'tokens'),
      cost: t.cost + r.cost_usd,
    }),
    { requests: 0, errors: 0, tokens: 0, cost: 0 },
  )
}

/** A "nice" upper bound for an axis holding `max`. */
export function niceMax(max: number): number {
  if (max <= 0) return 1
  const p = 10 ** Math.floor(Math.log10(max))
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= max) return m * p
  return 10 * p
}

/** Stacked totals per bucket (for the stacked area's top line). */
export function stackTotals(data: ChartData): number[] {
  return data.buckets.map((_, i) => data.series.reduce((s, x) => s + x.values[i], 0))
}

/** The median of values given with weights (e.g. bucket medians weighted by requests). */
export function weightedMedian(pairs: [number, number][]): number {
  const sorted = pairs.filter(([, w]) => w > 0).sort((a, b) => a[0] - b[0])
  const total = sorted.reduce((s, [, w]) => s + w, 0)
  let seen = 0
  for (const [v, w] of sorted) {
    seen += w
    if (seen * 2 >= total) return v
  }
  return 0
}

/** Usage records (e.g. a key's recent requests) summed into hourly aggregates. */
export function fromRecords(
  records: { created_at: string; status: number; cost_usd: number | null; input_tokens: number; output_tokens: number; requested_model?: string | null }[],
  step = 3600_000,
): Aggregate[] {
  const byBucket = new Map<string, Aggregate>()
  for (const r of records) {
    const t = Math.floor(new Date(r.created_at).getTime() / step) * step
    const bucket = new Date(t).toISOString()
    const group = r.requested_model ?? null
    const k = `${bucket}|${group}`
    const a = byBucket.get(k) ?? {
      bucket_start: bucket, group, requests: 0, errors: 0, input_tokens: 0, output_tokens: 0,
      cache_creation_tokens: 0, cache_read_tokens: 0, reasoning_tokens: 0, cost_usd: 0,
      p50_duration_ms: 0, p95_duration_ms: 0, p50_ttfb_ms: 0, p95_ttfb_ms: 0,
    }
    a.requests += 1
    if (r.status >= 400) a.errors += 1
    a.input_tokens += r.input_tokens
    a.output_tokens += r.output_tokens
    a.cost_usd += r.cost_usd ?? 0
    byBucket.set(k, a)
  }
  return [...byBucket.values()]
}

/** Tokens per bucket split by class (input, output, cache write, cache read), whatever the group. */
export function byClass(rows: Aggregate[], buckets: string[], names: [string, string, string, string]): ChartData {
  const index = new Map(buckets.map((b, i) => [key(b), i]))
  const fields = ['input_tokens', 'output_tokens', 'cache_creation_tokens', 'cache_read_tokens'] as const
  const series = fields.map((_, j) => ({ name: names[j], values: buckets.map(() => 0) }))
  for (const r of rows) {
    const i = r.bucket_start ? index.get(key(r.bucket_start)) : undefined
    if (i === undefined) continue
    fields.forEach((f, j) => (series[j].values[i] += r[f]))
  }
  return { buckets, series: series.filter((x) => x.values.some((v) => v > 0)) }
}
