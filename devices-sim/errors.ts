// The simulator's own failures: bad options, an unreachable or refusing gateway. Each is
// reported as one line without a stack, with the exit code it carries (2 by default), so
// scripts can tell "the run could not be made" (2) from "the run found problems" (1).

export type SimErrorCode =
  | 'OPTION_INVALID'
  | 'SCENARIO_INVALID'
  | 'FILE_INVALID'
  | 'HTTP_UNREACHABLE'
  | 'MQTT_UNREACHABLE'
  | 'UNAUTHORIZED'
  | 'SUBSCRIPTION_FAILED'
  | 'REGISTRATION_FAILED'
  | 'NO_DEVICE_CONNECTED'
  | 'GATEWAY_ERROR'
  | 'WORKER_FAILED'
  | 'INTERRUPTED'

export class SimError extends Error {
  readonly code: SimErrorCode
  readonly exitCode: number

  constructor (code: SimErrorCode, message: string, opts: { exitCode?: number, cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause })
    this.name = 'SimError'
    this.code = code
    this.exitCode = opts.exitCode ?? 2
  }
}

export function isSimError (err: unknown): err is SimError {
  return err instanceof SimError
}

/** The most telling text of a network error: undici and mqtt.js nest the socket error as `cause`. */
export function describeNetworkError (err: unknown): string {
  const e = err as { code?: unknown, message?: string, cause?: unknown, errors?: unknown[] }
  const cause = e?.cause as { code?: unknown, message?: string } | undefined
  if (cause !== undefined && typeof cause.code === 'string') return `${cause.code}${cause.message !== undefined && !cause.message.includes(cause.code) ? ` (${cause.message})` : ''}`
  // AggregateError from happy-eyeballs connects (IPv4 and IPv6 both refused).
  if (Array.isArray(e?.errors) && e.errors.length > 0) return describeNetworkError(e.errors[0])
  if (typeof e?.code === 'string') return `${e.code}${e.message !== undefined && !e.message.includes(e.code) ? ` (${e.message})` : ''}`
  return e?.message ?? String(err)
}
