import { SimError } from './errors.js'

// Telemetry payloads: a JSON object template whose numbers random-walk per device, plus
// the fields the measurement needs (`run`, `seq`, `sentAt`). The template is compiled once
// into string pieces around its numbers, so a message costs a few concatenations instead
// of cloning and serialising an object.

export const DEFAULT_TEMPLATE = { temperature: 21.5, humidity: 40, battery: 3.7 }

/** Fields the simulator writes itself; a template's own are dropped. */
const RESERVED = new Set(['run', 'seq', 'sentAt'])

export interface CompiledTemplate {
  /** JSON text around the numbers: pieces.length === initial.length + 1. */
  pieces: string[]
  initial: number[]
  /** Decimal places each number is shown with (0 for integers). */
  decimals: number[]
}

function decimalsOf (n: number): number {
  if (Number.isInteger(n)) return 0
  const text = String(n)
  const exp = /e-(\d+)$/.exec(text)
  if (exp !== null) return Math.min(6, Number(exp[1]) + (text.split('e')[0]?.split('.')[1]?.length ?? 0))
  return Math.min(6, text.split('.')[1]?.length ?? 1)
}

/** Compiles a template (a parsed JSON object); throws SimError naming `source` otherwise. */
export function compileTemplate (template: unknown, source = 'payload'): CompiledTemplate {
  if (template === null || typeof template !== 'object' || Array.isArray(template)) {
    throw new SimError('FILE_INVALID', `${source}: the payload template must be a JSON object`)
  }
  const initial: number[] = []
  const marker = `\u0001n${Math.random().toString(36).slice(2)}\u0001`
  const replace = (value: unknown): unknown => {
    if (typeof value === 'number') {
      initial.push(value)
      return `${marker}${initial.length - 1}${marker}`
    }
    if (Array.isArray(value)) return value.map(replace)
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, replace(v)]))
    }
    return value
  }
  const top = Object.fromEntries(Object.entries(template).filter(([k]) => !RESERVED.has(k)))
  const text = JSON.stringify(replace(top))
  // JSON.stringify escapes \u0001, so the marker survives as text: split on the quoted marker.
  const escaped = JSON.stringify(marker).slice(1, -1).replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')
  const parts = text.slice(1, -1).split(new RegExp(`"${escaped}(\\d+)${escaped}"`))
  const pieces: string[] = []
  for (let i = 0; i < parts.length; i += 2) pieces.push(parts[i] as string)
  return { pieces, initial, decimals: initial.map(decimalsOf) }
}

/** A seeded PRNG (mulberry32), for reproducible walks in tests. */
export function seededRandom (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Pull towards the template value per step, so a long run stays near realistic readings. */
const REVERSION = 0.05

/**
 * One step of a mean-reverting random walk: moves up to 1 % of the template value (or one
 * unit of its last decimal place) either way, and drifts back towards the template value.
 */
export function walkStep (current: number, initial: number, decimals: number, random: () => number): number {
  const step = Math.max(Math.abs(initial) * 0.01, 10 ** -decimals)
  return current + (initial - current) * REVERSION + step * (2 * random() - 1)
}

export function formatNumber (value: number, decimals: number): string {
  const f = 10 ** decimals
  const rounded = Math.round(value * f) / f
  return String(Object.is(rounded, -0) ? 0 : rounded)
}

/** One device's current readings and the messages it sends. */
export class DevicePayload {
  private readonly values: Float64Array

  constructor (private readonly template: CompiledTemplate, private readonly random: () => number) {
    this.values = Float64Array.from(template.initial)
  }

  /** Walks every number one step and renders a message with the measurement fields first. */
  next (run: string, seq: number, sentAt: number): string {
    const { pieces, initial, decimals } = this.template
    let body = pieces[0] as string
    for (let i = 0; i < initial.length; i++) {
      const v = walkStep(this.values[i] as number, initial[i] as number, decimals[i] as number, this.random)
      this.values[i] = v
      body += formatNumber(v, decimals[i] as number) + (pieces[i + 1] as string)
    }
    return `{"run":${JSON.stringify(run)},"seq":${seq},"sentAt":${sentAt}${body === '' ? '' : ',' + body}}`
  }
}
