import { performance } from 'node:perf_hooks'
import { SimError } from './errors.js'
import type { GatewayHttp } from './http.js'
import type { Settings } from './options.js'
import { readDevicesFile, registerDevices, writeDevicesFile } from './registry.js'

// The run's devices: ids from --prefix, registered over HTTP with passwords this run knows
// (from --devices-file when given, which is then written back with every password).

export const deviceIds = (s: Pick<Settings, 'devices' | 'prefix'>): string[] => Array.from({ length: s.devices }, (_, i) => `${s.prefix}-${i + 1}`)

/** Registers every id (reusing the known passwords) and returns each device's password. */
export async function prepareDevices (s: Settings, http: GatewayHttp, ids: readonly string[], run: { runId: string, note: (text: string) => void }): Promise<Map<string, string>> {
  const { runId, note } = run
  const known = s.devicesFile === null ? new Map<string, string>() : await readDevicesFile(s.devicesFile, s.http, note)
  const t0 = performance.now()
  note(`run ${runId}: registering ${ids.length} devices${known.size > 0 ? ` (${known.size} known from ${s.devicesFile as string})` : ''}`)
  const reg = await registerDevices(http, ids, known, { concurrency: 16 })
  note(`registered in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${reg.created} created, ${reg.reused} reused${reg.replaced > 0 ? `, ${reg.replaced} deleted and created again (they existed with a password this run does not know)` : ''}`)
  if (s.devicesFile !== null) {
    const all = new Map([...known, ...reg.credentials])
    try { await writeDevicesFile(s.devicesFile, s.http, all) } catch (err) { throw new SimError('FILE_INVALID', `--devices-file ${s.devicesFile}: ${(err as Error).message}`) }
  }
  return reg.credentials
}
