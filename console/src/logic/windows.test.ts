import { describe, expect, it } from 'vitest'
import { usageWindows } from './windows'

describe('usage windows', () => {
  it('reads Claude header windows (percent)', () => {
    const r = { source: 'anthropic', five_hour: { utilization: 42, resets_at: '2026-01-01T05:00:00Z' }, seven_day: { utilization: 7.5, resets_at: null } }
    expect(usageWindows(r)).toEqual([
      { name: 'five_hour', percent: 42, resets_at: '2026-01-01T05:00:00Z' },
      { name: 'seven_day', percent: 7.5, resets_at: null },
    ])
  })
  it('reads Codex windows and the usage endpoint shape', () => {
    expect(usageWindows({ source: 'codex', primary: { used_percent: 80, resets_at: 'x' }, secondary: { used_percent: null } })).toEqual([
      { name: 'primary', percent: 80, resets_at: 'x' },
    ])
    expect(usageWindows({ report: { rate_limit: { primary_window: { used_percent: 10, reset_at: 0 } } } })).toEqual([
      { name: 'primary_window', percent: 10, resets_at: '1970-01-01T00:00:00.000Z' },
    ])
  })
  it('ignores what is not a report', () => {
    expect(usageWindows(null)).toEqual([])
    expect(usageWindows('x')).toEqual([])
  })
})
