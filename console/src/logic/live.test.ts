import { describe, expect, it } from 'vitest'
import { share, topToday } from './live'

const s = (id: number, today: number) => ({ id, in_flight: 0, today_usd: today, this_week_usd: today, total_usd: today })

describe('live ranking', () => {
  it('ranks by spend today, drops zeros, names rows', () => {
    const names = new Map([[1, 'a'], [2, 'b']])
    expect(topToday([s(1, 0.5), s(2, 2), s(3, 0)], names)).toEqual([
      { id: 2, name: 'b', today_usd: 2 },
      { id: 1, name: 'a', today_usd: 0.5 },
    ])
  })
  it('keeps the top n and names unknown ids by number', () => {
    expect(topToday([s(7, 1), s(8, 3)], new Map(), 1)).toEqual([{ id: 8, name: '#8', today_usd: 3 }])
  })
  it('computes the share of a limit', () => {
    expect(share(1, 4)).toBe(0.25)
    expect(share(5, 4)).toBe(1)
    expect(share(1, null)).toBeNull()
    expect(share(1, 0)).toBeNull()
  })
})
