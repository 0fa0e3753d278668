import { deepEqual, isPlainObject, type ReportedField } from './model.js'

// The desired document: JSON merge patches (RFC 7396) applied to it, and the delta between
// it and the reported state. Pure.

/** RFC 7396 section 2: MergePatch(Target, Patch). */
export function mergePatch (target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return patch
  const out: Record<string, unknown> = isPlainObject(target) ? { ...target } : {}
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key]
    else out[key] = mergePatch(out[key], value)
  }
  return out
}

/**
 * The desired fields whose value the device has not reported (absent, or not deep-equal):
 * what it still has to do. Empty once they agree.
 */
export function computeDelta (desired: Readonly<Record<string, unknown>>, reported: Readonly<Record<string, ReportedField>>): Record<string, unknown> {
  const delta: Record<string, unknown> = {}
  for (const [field, value] of Object.entries(desired)) {
    const r = reported[field]
    if (r === undefined || !deepEqual(r.value, value)) delta[field] = value
  }
  return delta
}
