import { describe, expect, it } from 'vitest'
import { bucketStarts, byClass, fromRecords, niceMax, shape, totals, weightedMedian, type Aggregate } from './chart'

const row = (bucket: string, group: string, requests: number, cost = 0): Aggregate => ({
  bucket_start: bucket, group, requests, errors: 0, input_tokens: requests * 10, output_tokens: 0,
  cache_creation_tokens: 0, cache_read_tokens: 0, reasoning_tokens: 0, cost_usd: cost, p50_duration_ms: 0, p95_duration_ms: 0,
  p50_ttfb_ms: 0, p95_ttfb_ms: 0,
})

describe('chart data shaping', () => {
  const buckets = bucketStarts(new Date('2026-01-01T00:30:00Z'), new Date('2026-01-01T03:00:00Z'), 3600_000)
  it('makes one bucket per hour from the start of the first', () => {
    expect(buckets).toEqual(['2026-01-01T00:00:00.000Z', '2026-01-01T01:00:00.000Z', '2026-01-01T02:00:00.000Z'])
  })
  it('fills empty buckets with zero and keeps series by size', () => {
    const d = shape([row('2026-01-01T00:00:00Z', 'b', 1), row('2026-01-01T02:00:00Z', 'a', 5)], buckets, 'requests')
    expect(d.series).toEqual([{ name: 'a', values: [0, 0, 5] }, { name: 'b', values: [1, 0, 0] }])
  })
  it('sums groups past the top into "other"', () => {
    const rows = ['a', 'b', 'c'].map((g, i) => row('2026-01-01T01:00:00Z', g, 3 - i))
    const d = shape(rows, buckets, 'requests', 1)
    expect(d.series).toEqual([{ name: 'a', values: [0, 3, 0] }, { name: 'other', values: [0, 3, 0] }])
  })
  it('adds tokens of every class and totals', () => {
    const d = shape([row('2026-01-01T01:00:00Z', 'a', 2)], buckets, 'tokens')
    expect(d.series[0].values).toEqual([0, 20, 0])
    expect(totals([row('x', 'a', 2, 0.5), row('y', 'b', 1, 0.25)])).toEqual({ requests: 3, errors: 0, tokens: 30, cost: 0.75 })
  })
  it('picks a round axis top', () => {
    expect(niceMax(0)).toBe(1)
    expect(niceMax(7)).toBe(10)
    expect(niceMax(0.03)).toBe(0.05)
    expect(niceMax(120)).toBe(200)
  })
  it('takes the weighted median of bucket medians', () => {
    expect(weightedMedian([[10, 1], [100, 5], [1000, 1]])).toBe(100)
    expect(weightedMedian([[10, 3], [100, 1]])).toBe(10)
    expect(weightedMedian([])).toBe(0)
    expect(weightedMedian([[5, 0]])).toBe(0)
  })
  it('sums records into hourly aggregates per model', () => {
    const rec = (at: string, model: string, status = 200) => ({ created_at: at, status, cost_usd: 0.5, input_tokens: 1, output_tokens: 2, requested_model: model })
    const rows = fromRecords([rec('2026-01-01T01:10:00Z', 'a'), rec('2026-01-01T01:50:00Z', 'a', 500), rec('2026-01-01T02:00:00Z', 'b')])
    expect(rows.map((r) => [r.bucket_start, r.group, r.requests, r.errors, r.cost_usd])).toEqual([
      ['2026-01-01T01:00:00.000Z', 'a', 2, 1, 1],
      ['2026-01-01T02:00:00.000Z', 'b', 1, 0, 0.5],
    ])
    expect(shape(rows, buckets, 'requests').series).toEqual([{ name: 'a', values: [0, 2, 0] }, { name: 'b', values: [0, 0, 1] }])
  })
  it('splits tokens by class across groups and drops empty classes', () => {
    const r = { ...row('2026-01-01T01:00:00Z', 'a', 1), output_tokens: 5, cache_read_tokens: 7 }
    const d = byClass([r, row('2026-01-01T02:00:00Z', 'b', 2)], buckets, ['in', 'out', 'cw', 'cr'])
    expect(d.series).toEqual([
      { name: 'in', values: [0, 10, 20] },
      { name: 'out', values: [0, 5, 0] },
      { name: 'cr', values: [0, 7, 0] },
    ])
  })
})
