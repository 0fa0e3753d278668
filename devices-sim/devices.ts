import { performance } from 'node:perf_hooks'
import { SimError } from './errors.js'
import type { GatewayHttp } from './http.js'
import type { Settings } from './options.js'
import { readDevicesFile, registerDevices, removeDevices, writeDevicesFile } from './registry.js'

// The run's devices: ids from --prefix, registered over HTTP with passwords this run knows
// (from --devices-file when given, which is then written back with every password), and
// deleted again at the end with --cleanup. Under --broker-only nothing is registered: every
// device connects with --username/--password, or anonymously.

export type Credentials = Map<string, { username?: string, password?: string }>

export const deviceIds = (s: Pick<Settings, 'devices' | 'prefix'>): string[] => Array.from({ length: s.devices }, (_, i) => `${s.prefix}-${i + 1}`)

/** --broker-only: the same credentials (or none) for every device. */
export function brokerCredentials (s: Pick<Settings, 'username' | 'password'>, ids: readonly string[]): Credentials {
  const c = { ...(s.username === null ? {} : { username: s.username }), ...(s.password === null ? {} : { password: s.password }) }
  return new Map(ids.map((id) => [id, c]))
}

/**
 * Registers every id (reusing the known passwords) and returns each device's credentials;
 * `onRegistered` hears of each id the gateway holds for this run (for --cleanup, also when
 * registration fails half-way).
 */
export async function prepareDevices (s: Settings, http: GatewayHttp, ids: readonly string[], run: { runId: string, note: (text: string) => void, onRegistered: (id: string) => void }): Promise<Credentials> {
  const { runId, note } = run
  const known = s.devicesFile === null ? new Map<string, string>() : await readDevicesFile(s.devicesFile, s.http, note)
  const t0 = performance.now()
  note(`run ${runId}: registering ${ids.length} devices${known.size > 0 ? ` (${known.size} known from ${s.devicesFile as string})` : ''}`)
  const reg = await registerDevices(http, ids, known, { concurrency: 16, onRegistered: run.onRegistered })
  note(`registered in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${reg.created} created, ${reg.reused} reused${reg.replaced > 0 ? `, ${reg.replaced} deleted and created again (they existed with a password this run does not know)` : ''}`)
  if (s.devicesFile !== null) {
    const all = new Map([...known, ...reg.credentials])
    try { await writeDevicesFile(s.devicesFile, s.http, all) } catch (err) { throw new SimError('FILE_INVALID', `--devices-file ${s.devicesFile}: ${(err as Error).message}`) }
  }
  return new Map([...reg.credentials].map(([id, password]) => [id, { username: id, password }]))
}

/** --cleanup: deletes the devices this run registered; problems are notes, the result stands. */
export async function cleanupDevices (http: GatewayHttp, ids: readonly string[], note: (text: string) => void): Promise<void> {
  if (ids.length === 0) return
  const t0 = performance.now()
  const r = await removeDevices(http, ids, 16)
  note(`--cleanup: deleted ${r.deleted} of ${ids.length} devices in ${((performance.now() - t0) / 1000).toFixed(1)} s${r.failed > 0 ? `; ${r.failed} could not be deleted (${r.firstFailures.join('; ')})` : ''}`)
}
