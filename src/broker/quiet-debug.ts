import { createRequire } from 'node:module'

// mqtt-packet calls the `debug` module some 20 times per PUBLISH it parses or writes for aedes.
// A debug function collects its rest arguments into an array before it checks whether its
// namespace is on, so each call allocates even with logging off: 16 % of the bytes the ingest
// thread allocated under fan-in (heap sampling profile). Installed before aedes loads (first
// import of broker.ts and of the `start` command), this makes `require('debug')(namespace)`
// return a function that does nothing when DEBUG does not enable the namespace, and the real
// one when it does; the module's other properties (enable, log, formatters, ...) are the real ones.
// A namespace enabled later at run time (debug.enable) stays quiet where it was made quiet.

type DebugFn = ((...args: unknown[]) => void) & { enabled: boolean, namespace: string, extend: (ns: string, delimiter?: string) => DebugFn }
export type CreateDebug = ((namespace: string) => DebugFn) & { enabled: (namespace: string) => boolean }

const QUIET = Symbol.for('gridgate.quietDebug')

function quietInstance (namespace: string, create: (ns: string) => DebugFn): DebugFn {
  // No rest parameter and no `arguments`: a call allocates nothing.
  const fn = function quiet (): void {} as unknown as DebugFn
  fn.namespace = namespace
  fn.enabled = false
  fn.extend = (ns, delimiter = ':') => create(`${namespace}${delimiter}${ns}`)
  return fn
}

/**
 * A `debug` module whose instances for namespaces that DEBUG leaves off do nothing. A proxy,
 * so that everything but the call (enable, log, formatters, setting them) is the real module.
 */
export function quietDebug (real: CreateDebug): CreateDebug {
  if ((real as unknown as Record<symbol, unknown>)[QUIET] === true) return real
  const create: CreateDebug = new Proxy(real, {
    apply: (target, _this, args: [string]) => target.enabled(args[0]) ? target(args[0]) : quietInstance(args[0], create),
    get: (target, key, receiver) => key === QUIET ? true : Reflect.get(target, key, receiver) as unknown
  })
  return create
}

/** Replaces the shared `debug` module's exports (in require's cache) with quietDebug's. */
export function installQuietDebug (): void {
  const require = createRequire(import.meta.url)
  let path: string
  try {
    path = require.resolve('debug')
  } catch {
    return // no `debug` installed: nothing to quiet
  }
  const real = require(path) as CreateDebug
  const cached = require.cache[path]
  if (cached !== undefined && typeof real === 'function' && typeof real.enabled === 'function') cached.exports = quietDebug(real)
}

installQuietDebug()
