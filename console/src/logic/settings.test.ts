import { describe, expect, it } from 'vitest'
import { settingGroup } from './settings'

describe('setting cards', () => {
  it('puts each setting on the card it is about', () => {
    expect(settingGroup('account_health_check_interval')).toBe('health')
    expect(settingGroup('account_error_threshold')).toBe('health')
    expect(settingGroup('account_recovery_enabled')).toBe('health')
    expect(settingGroup('webhook_url')).toBe('health')
    expect(settingGroup('account_health_check_timeout_seconds')).toBe('health')
    expect(settingGroup('overload_cooldown_seconds')).toBe('routing')
    expect(settingGroup('max_attempts')).toBe('routing')
    expect(settingGroup('first_byte_timeout_seconds')).toBe('timeouts')
    expect(settingGroup('cost_limit_timezone')).toBe('limits')
    expect(settingGroup('user_key_self_service')).toBe('limits')
    expect(settingGroup('default_proxy')).toBe('network')
    expect(settingGroup('something_new')).toBe('other')
  })
})
