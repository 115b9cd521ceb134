// Light and dark themes: follow the system unless the operator picks one (kept in localStorage).
import { ref } from 'vue'

export type ThemeChoice = 'system' | 'light' | 'dark'

function initial(): ThemeChoice {
  const saved = globalThis.localStorage?.getItem('sy.theme')
  return saved === 'light' || saved === 'dark' ? saved : 'system'
}

export const theme = ref<ThemeChoice>(initial())

export function applyTheme(choice: ThemeChoice = theme.value): void {
  theme.value = choice
  if (choice === 'system') {
    globalThis.localStorage?.removeItem('sy.theme')
    delete document.documentElement.dataset.theme
  } else {
    globalThis.localStorage?.setItem('sy.theme', choice)
    document.documentElement.dataset.theme = choice
  }
}
