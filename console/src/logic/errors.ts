// Turns an API error into what a form shows: the message beside the field the server named,
// or at the top when it named none.
import { ApiError } from '../api'

export interface FormErrors {
  fields: Record<string, string>
  general: string
}

export function formErrors(e: unknown): FormErrors {
  if (e instanceof ApiError && e.field) return { fields: { [e.field]: e.message }, general: '' }
  return { fields: {}, general: e instanceof Error ? e.message : String(e) }
}

export function noErrors(): FormErrors {
  return { fields: {}, general: '' }
}
