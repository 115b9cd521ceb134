import { describe, expect, it } from 'vitest'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import en from './messages/en'
import zh from './messages/zh'
import { catalogues, placeholders } from './i18n'

describe('message catalogues', () => {
  it('have the same keys', () => {
    expect(Object.keys(zh).sort()).toEqual(Object.keys(en).sort())
  })
  it('use the same placeholders in each message', () => {
    for (const k of Object.keys(en) as (keyof typeof en)[]) {
      expect(placeholders(zh[k]), k).toEqual(placeholders(en[k]))
    }
  })
  it('have no empty message', () => {
    for (const c of Object.values(catalogues)) for (const v of Object.values(c)) expect(v.trim()).not.toBe('')
  })
  it('hold every key the screens use', () => {
    const files: string[] = []
    const walk = (d: string) => {
      for (const f of readdirSync(d)) {
        const p = join(d, f)
        if (statSync(p).isDirectory()) walk(p)
        else if (/\.(vue|ts)$/.test(f) && !f.endsWith('.test.ts')) files.push(p)
      }
    }
    walk(join(__dirname))
    const used = new Set<string>()
    for (const f of files) {
      for (const m of readFileSync(f, 'utf8').matchAll(/\bt\('([a-zA-Z0-9_]+\.[a-zA-Z0-9_.]+)'/g)) used.add(m[1])
    }
    const missing = [...used].filter((k) => !(k in en))
    expect(missing).toEqual([])
  })
  it('leaves no words in the templates outside the catalogues', () => {
    // Product and kind names and units are not translated.
    const allowed = new Set(['Switchyard', 'ms', 'claude-official (Claude Pro/Max)', 'openai-responses (ChatGPT/Codex)', 'gemini (Google)'])
    const found: string[] = []
    const walk = (d: string) => {
      for (const f of readdirSync(d)) {
        const p = join(d, f)
        if (statSync(p).isDirectory()) walk(p)
        else if (f.endsWith('.vue')) {
          const source = readFileSync(p, 'utf8')
          const template = source.slice(source.indexOf('<template>')).replace(/\{\{[\s\S]*?\}\}/g, '')
          for (const m of template.matchAll(/>([^<>]+)</g)) {
            const text = m[1].trim().replace(/^[/·\s]+|[/·\s]+$/g, '')
            if (/[A-Za-z]{2,}/.test(text) && !allowed.has(text)) found.push(`${f}: ${text}`)
          }
        }
      }
    }
    walk(join(__dirname))
    expect(found).toEqual([])
  })
})
