// Runtime settings in cards by what they are about; the health check has its own card.

export type SettingGroup = 'health' | 'routing' | 'timeouts' | 'limits' | 'network' | 'other'

export function settingGroup(key: string): SettingGroup {
  if (key.startsWith('account_health_check') || key === 'account_error_threshold' || key.includes('recovery') || key === 'webhook_url') {
    return 'health'
  }
  if (key.startsWith('sticky_') || key === 'max_attempts' || key.startsWith('failover_') || key.endsWith('cooldown_seconds')) {
    return 'routing'
  }
  if (key.endsWith('timeout_seconds')) return 'timeouts'
  if (key.startsWith('concurrency_') || key.startsWith('client_') || key.startsWith('cost_') || key.startsWith('user_')) {
    return 'limits'
  }
  if (key.includes('proxy')) return 'network'
  return 'other'
}

export const CARDS: SettingGroup[] = ['routing', 'timeouts', 'limits', 'network', 'other']
