import { readFile, rename, writeFile } from 'node:fs/promises'
import { SimError } from './errors.js'
import { describeAnswer, type GatewayHttp } from './http.js'

// Device credentials: registered over HTTP with bounded concurrency, optionally kept in a
// devices file so later runs skip the registrations. The gateway shows a password only when
// it creates the device, so a device that exists with a password we do not know is deleted
// and registered again.

export interface DevicesFile {
  gateway: string
  devices: Record<string, string>
}

/** Reads a devices file; a missing file is empty, one for another gateway is ignored (with a note). */
export async function readDevicesFile (path: string, gateway: string, note: (text: string) => void): Promise<Map<string, string>> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map()
    throw new SimError('FILE_INVALID', `--devices-file ${path}: ${(err as Error).message}`)
  }
  let doc: Partial<DevicesFile>
  try { doc = JSON.parse(text) as Partial<DevicesFile> } catch { throw new SimError('FILE_INVALID', `--devices-file ${path}: not JSON (delete it to start over)`) }
  if (typeof doc !== 'object' || doc === null || typeof doc.devices !== 'object' || doc.devices === null) {
    throw new SimError('FILE_INVALID', `--devices-file ${path}: not a devices file (expected {"gateway":…,"devices":{"id":"password"}}; delete it to start over)`)
  }
  if (doc.gateway !== gateway) {
    note(`${path} holds devices of ${String(doc.gateway)}, not ${gateway}: registering afresh`)
    return new Map()
  }
  return new Map(Object.entries(doc.devices).filter((e): e is [string, string] => typeof e[1] === 'string'))
}

/** Writes the file atomically, readable by its owner only (it holds passwords). */
export async function writeDevicesFile (path: string, gateway: string, devices: ReadonlyMap<string, string>): Promise<void> {
  const doc: DevicesFile = { gateway, devices: Object.fromEntries([...devices].sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }))) }
  const tmp = `${path}.${process.pid}.tmp`
  await writeFile(tmp, JSON.stringify(doc, null, 1) + '\n', { mode: 0o600 })
  await rename(tmp, path)
}

export interface Registration {
  credentials: Map<string, string>
  created: number
  reused: number
  replaced: number
}

/** Makes sure every id is registered with a password we know. */
export async function registerDevices (http: GatewayHttp, ids: readonly string[], known: ReadonlyMap<string, string>, opts: { concurrency: number, onProgress?: (done: number) => void, onRegistered?: (id: string) => void }): Promise<Registration> {
  const result: Registration = { credentials: new Map(), created: 0, reused: 0, replaced: 0 }
  const path = (id: string): string => `/devices/${encodeURIComponent(id)}`
  const put = async (id: string) => {
    const a = await http.call('PUT', path(id))
    if (a.status !== 200 && a.status !== 201) throw new SimError('REGISTRATION_FAILED', `registering device ${id}: ${describeAnswer(a)}`)
    return a
  }
  const one = async (id: string): Promise<void> => {
    const a = await put(id)
    opts.onRegistered?.(id)
    if (a.status === 201) {
      result.credentials.set(id, a.body.password as string)
      result.created++
      return
    }
    const password = known.get(id)
    if (password !== undefined) {
      result.credentials.set(id, password)
      result.reused++
      return
    }
    const del = await http.call('DELETE', path(id))
    if (del.status !== 204 && del.status !== 404) throw new SimError('REGISTRATION_FAILED', `replacing device ${id}: DELETE ${describeAnswer(del)}`)
    const again = await put(id)
    if (again.status !== 201) throw new SimError('REGISTRATION_FAILED', `replacing device ${id}: PUT answered ${again.status} after DELETE`)
    result.credentials.set(id, again.body.password as string)
    result.replaced++
  }
  let next = 0
  let done = 0
  let failed = false
  const lane = async (): Promise<void> => {
    while (next < ids.length && !failed) {
      try {
        await one(ids[next++] as string)
      } catch (err) {
        failed = true // the other lanes stop too: the run cannot go on
        throw err
      }
      opts.onProgress?.(++done)
    }
  }
  await Promise.all(Array.from({ length: Math.min(opts.concurrency, ids.length) }, lane))
  return result
}

/**
 * Deletes the devices (--cleanup), `concurrency` at a time; a device already gone counts as
 * deleted. Failures do not stop the others: they are returned, the first few as text.
 */
export async function removeDevices (http: GatewayHttp, ids: readonly string[], concurrency: number): Promise<{ deleted: number, failed: number, firstFailures: string[] }> {
  const out = { deleted: 0, failed: 0, firstFailures: [] as string[] }
  let next = 0
  const lane = async (): Promise<void> => {
    while (next < ids.length) {
      const id = ids[next++] as string
      try {
        const a = await http.call('DELETE', `/devices/${encodeURIComponent(id)}`)
        if (a.status === 204 || a.status === 404) { out.deleted++; continue }
        out.failed++
        if (out.firstFailures.length < 3) out.firstFailures.push(`${id}: ${describeAnswer(a)}`)
      } catch (err) {
        out.failed++
        if (out.firstFailures.length < 3) out.firstFailures.push(`${id}: ${(err as Error).message}`)
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, ids.length) }, lane))
  return out
}
