import { describe, expect, it } from 'vitest'
import { USAGE_COLUMNS, toCsv } from './csv'

describe('usage CSV', () => {
  it('has a header row and one line per record, in column order', () => {
    const csv = toCsv([{ created_at: '2026-01-01T00:00:00Z', request_id: 'r1', status: 200, cost_usd: 0.5, stream: true }])
    const [header, row, end] = csv.split('\r\n')
    expect(header).toBe(USAGE_COLUMNS.join(','))
    expect(row.split(',')).toHaveLength(USAGE_COLUMNS.length)
    expect(row.startsWith('2026-01-01T00:00:00Z,r1,')).toBe(true)
    expect(row).toContain(',0.5,true,200,')
    expect(end).toBe('')
  })
  it('quotes commas, quotes and line breaks; leaves nulls empty', () => {
    const csv = toCsv([{ request_id: 'a,"b"\nc', error_kind: null }])
    expect(csv.split('\r\n')[1].split(',"')[0]).toBe('')
    expect(csv).toContain('"a,""b""\nc"')
  })
})
