// The message catalogues and the current language. Every text the console shows comes from
// here: `t('key', {name: …})`. The choice is kept in localStorage (it is no secret).
import { ref } from 'vue'
import en from './messages/en'
import zh from './messages/zh'

export type Locale = 'en' | 'zh-CN'
export type MessageKey = keyof typeof en

export const catalogues: Record<Locale, Record<MessageKey, string>> = { en, 'zh-CN': zh }
export const locales: Locale[] = ['en', 'zh-CN']

function initial(): Locale {
  const saved = globalThis.localStorage?.getItem('sy.locale')
  if (saved === 'en' || saved === 'zh-CN') return saved
  const nav = globalThis.navigator?.language?.toLowerCase() ?? 'en'
  return nav.startsWith('zh') ? 'zh-CN' : 'en'
}

export const locale = ref<Locale>(initial())

export function setLocale(l: Locale): void {
  locale.value = l
  globalThis.localStorage?.setItem('sy.locale', l)
  if (globalThis.document) document.documentElement.lang = l
}

/** The text of `key` in the current language, with `{name}` placeholders filled. */
export function t(key: MessageKey, params?: Record<string, string | number>): string {
  const text = catalogues[locale.value][key] ?? en[key] ?? key
  if (!params) return text
  return text.replace(/\{(\w+)\}/g, (m, name: string) =>
    name in params ? String(params[name]) : m,
  )
}

/** The placeholders a message uses, for the completeness test. */
export function placeholders(text: string): string[] {
  return [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort()
}
