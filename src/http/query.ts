import { GridgateError } from '../core/errors.js'
import { isRfc3339 } from '../core/cloudevent.js'

// Query parameters are parsed by hand so every bad one gets QUERY_PARAM_INVALID naming it.

export type Query = Record<string, string | string[] | undefined>

function single (query: Query, name: string): string | undefined {
  const v = query[name]
  if (Array.isArray(v)) throw new GridgateError('QUERY_PARAM_INVALID', `query parameter '${name}' is given more than once`, { details: { param: name } })
  return v
}

export function intParam (query: Query, name: string, range: { min: number, max: number }): number | undefined {
  const v = single(query, name)
  if (v === undefined) return undefined
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v)) || Number(v) < range.min || Number(v) > range.max) {
    throw new GridgateError('QUERY_PARAM_INVALID',
      `query parameter '${name}' must be an integer from ${range.min} to ${range.max}, not '${v.slice(0, 40)}'`,
      { details: { param: name } })
  }
  return Number(v)
}

export function timeParam (query: Query, name: string): number | undefined {
  const v = single(query, name)
  if (v === undefined) return undefined
  if (!isRfc3339(v)) {
    throw new GridgateError('QUERY_PARAM_INVALID', `query parameter '${name}' must be an RFC 3339 time such as 2026-01-01T00:00:00Z, not '${v.slice(0, 40)}'`, { details: { param: name } })
  }
  return Date.parse(v)
}

/** Every parameter as one string; a repeated one is refused. */
export function singleParams (query: Query): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {}
  for (const name of Object.keys(query)) out[name] = single(query, name)
  return out
}
