import { describe, expect, it } from 'vitest'
import { changes } from './audit'

describe('audit detail', () => {
  it('lists only the fields that changed', () => {
    const d = JSON.stringify({ before: { status: 'active', priority: 50 }, after: { status: 'disabled', priority: 50 } })
    expect(changes(d)).toEqual([{ field: 'status', before: 'active', after: 'disabled' }])
  })
  it('shows added and removed fields and nested values', () => {
    const d = JSON.stringify({ before: { a: 1 }, after: { b: { c: 2 } } })
    expect(changes(d)).toEqual([
      { field: 'a', before: '1', after: '—' },
      { field: 'b', before: '—', after: '{"c":2}' },
    ])
  })
  it('copes with plain text and empty details', () => {
    expect(changes(null)).toEqual([])
    expect(changes('first start')).toEqual([{ field: '', before: '', after: 'first start' }])
    expect(changes(JSON.stringify({ before: null, after: { cleared: 1 } }))).toEqual([{ field: 'cleared', before: '—', after: '1' }])
  })
})
