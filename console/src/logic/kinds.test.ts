import { describe, expect, it } from 'vitest'
import { FIELDS, KINDS, accountBody, editForm, newAccountForm, patchBody } from './kinds'

describe('account forms per kind', () => {
  it('describes every kind', () => {
    for (const k of KINDS) expect(FIELDS[k].secrets.length).toBeGreaterThan(0)
  })
  it('sends only the fields of the chosen kind', () => {
    const f = newAccountForm('claude')
    f.name = ' c1 '
    f.secrets = { api_key: 'sk-ant', access_token: 'left over from another kind' }
    f.extra = { region: 'us-east-1' }
    f.base_url = 'https://relay.example'
    expect(accountBody(f)).toEqual({ kind: 'claude', name: 'c1', base_url: 'https://relay.example', credentials: { api_key: 'sk-ant' } })
    const b = newAccountForm('bedrock')
    b.name = 'aws'
    b.base_url = 'ignored'
    b.secrets = { aws_access_key_id: 'AKIA', aws_secret_access_key: 's' }
    b.extra = { region: 'us-east-1' }
    b.priority = '10'
    expect(accountBody(b)).toEqual({
      kind: 'bedrock', name: 'aws', priority: 10,
      credentials: { aws_access_key_id: 'AKIA', aws_secret_access_key: 's' }, extra: { region: 'us-east-1' },
    })
  })
  it('edits keep secrets unless typed anew', () => {
    const f = editForm({ kind: 'openai', name: 'o', base_url: 'https://x', priority: 5, weight: 2, max_concurrency: 0, allowed_models: ['gpt-*'], proxy_url: null, extra: {} })
    expect(patchBody(f)).toEqual({ name: 'o', priority: 5, weight: 2, max_concurrency: 0, allowed_models: ['gpt-*'], proxy_url: null, base_url: 'https://x' })
    f.secrets.api_key = 'new'
    expect(patchBody(f).credentials).toEqual({ api_key: 'new' })
  })
})
