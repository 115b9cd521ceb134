import { describe, expect, it } from 'vitest'
import { admitted, emptyForm, fromForm, globMatch, localInput, toForm } from './policy'

describe('policy editor', () => {
  it('turns an empty form into a policy without limits', () => {
    const { policy, errors } = fromForm(emptyForm())
    expect(errors).toEqual({})
    expect(policy).toMatchObject({ allowed_models: [], concurrency_limit: 0, daily_cost_limit_usd: null, bound_account_id: null })
  })
  it('parses lists, numbers and days', () => {
    const f = { ...emptyForm(), allowed_models: 'claude-*, gpt-5\n o3', daily_cost_limit_usd: '2.5', rate_limit_per_minute: '60', expires_after_days: '30' }
    const { policy } = fromForm(f)
    expect(policy?.allowed_models).toEqual(['claude-*', 'gpt-5', 'o3'])
    expect(policy?.daily_cost_limit_usd).toBe(2.5)
    expect(policy?.rate_limit_per_minute).toBe(60)
    expect(policy?.expires_after_seconds).toBe(30 * 86400)
  })
  it('names the fields that do not parse', () => {
    const f = { ...emptyForm(), daily_cost_limit_usd: '-1', concurrency_limit: '1.5', expires_at: 'soon' }
    const { policy, errors } = fromForm(f)
    expect(policy).toBeUndefined()
    expect(errors).toEqual({ daily_cost_limit_usd: 'number', concurrency_limit: 'whole', expires_at: 'date' })
  })
  it('round-trips through the form', () => {
    const { policy } = fromForm({ ...emptyForm(), allowed_models: 'a*', total_cost_limit_usd: '10', allowed_dialects: ['anthropic'], pool_fallback: true, bound_group_id: '3' })
    const again = fromForm(toForm(policy ?? null)).policy
    expect(again).toEqual(policy)
  })
  it('keeps a key\'s own cross_dialect, and none follows the setting', () => {
    expect(fromForm(emptyForm()).policy?.cross_dialect).toBeNull()
    const { policy } = fromForm({ ...emptyForm(), cross_dialect: 'off' })
    expect(policy?.cross_dialect).toBe('off')
    expect(toForm(policy ?? null).cross_dialect).toBe('off')
  })
  it('previews which models a glob admits', () => {
    expect(globMatch('claude-*', 'claude-sonnet-4')).toBe(true)
    expect(globMatch('gpt-?', 'gpt-5')).toBe(true)
    expect(globMatch('gpt-?', 'gpt-51')).toBe(false)
    expect(globMatch('a.b', 'axb')).toBe(false)
    expect(admitted(['claude-*'], ['claude-x', 'gpt-5'])).toEqual(['claude-x'])
    expect(admitted([], ['claude-x', 'gpt-5'])).toEqual(['claude-x', 'gpt-5'])
  })
  it('shows an expiry in the browser zone and reads it back as the same instant', () => {
    const iso = '2026-05-04T03:02:00.000Z'
    const local = localInput(iso)
    expect(local).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/)
    expect(new Date(local).toISOString()).toBe(iso)
    const { policy } = fromForm({ ...emptyForm(), expires_at: local })
    expect(policy?.expires_at).toBe(iso)
    expect(toForm(policy ?? null).expires_at).toBe(local)
  })
})
