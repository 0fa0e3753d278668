import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { SimError } from '../../devices-sim/errors.js'
import type { GatewayHttp } from '../../devices-sim/http.js'
import { readDevicesFile, registerDevices, writeDevicesFile } from '../../devices-sim/registry.js'
import { useTeardown } from '../helpers/teardown.js'
import { tempDir } from '../helpers/tmp.js'

const teardown = useTeardown()
const GW = 'http://127.0.0.1:8080'

async function dir (): Promise<string> {
  const d = await tempDir('devices-sim-unit-')
  teardown(d.remove)
  return d.path
}

describe('devices file', () => {
  it('round-trips credentials, readable by its owner only', async () => {
    const path = join(await dir(), 'devices.json')
    await writeDevicesFile(path, GW, new Map([['sim-10', 'p10'], ['sim-2', 'p2']]))
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    expect(Object.keys(JSON.parse(await readFile(path, 'utf8')).devices)).toEqual(['sim-2', 'sim-10'])
    expect(await readDevicesFile(path, GW, () => {})).toEqual(new Map([['sim-2', 'p2'], ['sim-10', 'p10']]))
  })

  it('is empty when missing, and ignored (with a note) when it belongs to another gateway', async () => {
    const d = await dir()
    expect(await readDevicesFile(join(d, 'none.json'), GW, () => {})).toEqual(new Map())
    const path = join(d, 'other.json')
    await writeDevicesFile(path, 'http://elsewhere:8080', new Map([['a', 'b']]))
    const notes: string[] = []
    expect(await readDevicesFile(path, GW, (n) => notes.push(n))).toEqual(new Map())
    expect(notes[0]).toMatch(/holds devices of http:\/\/elsewhere:8080/)
  })

  it.each([['not json', /not JSON/], ['[1,2]', /not a devices file/], ['{"gateway":"x"}', /not a devices file/]])('refuses %s', async (text, message) => {
    const path = join(await dir(), 'bad.json')
    await writeFile(path, text)
    const err = await readDevicesFile(path, GW, () => {}).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(SimError)
    expect((err as SimError).message).toMatch(message)
  })
})

describe('registerDevices', () => {
  /** A gateway registry in memory, answering as gridgate does. */
  function fakeHttp (existing: string[]): { http: GatewayHttp, calls: string[] } {
    const devices = new Set(existing)
    const calls: string[] = []
    let n = 0
    const http = {
      call: async (method: string, path: string) => {
        const id = decodeURIComponent(path.split('/')[2] as string)
        calls.push(`${method} ${id}`)
        if (method === 'PUT') {
          if (devices.has(id)) return { status: 200, body: { id } }
          devices.add(id)
          return { status: 201, body: { id, password: `pw-${++n}` } }
        }
        devices.delete(id)
        return { status: 204, body: undefined }
      }
    } as unknown as GatewayHttp
    return { http, calls }
  }

  it('creates new devices, reuses known passwords, and replaces devices whose password is unknown', async () => {
    const { http, calls } = fakeHttp(['old-known', 'old-unknown'])
    const r = await registerDevices(http, ['new', 'old-known', 'old-unknown'], new Map([['old-known', 'kept'], ['new', 'stale']]), { concurrency: 2 })
    expect({ created: r.created, reused: r.reused, replaced: r.replaced }).toEqual({ created: 1, reused: 1, replaced: 1 })
    expect(r.credentials.get('old-known')).toBe('kept')
    expect(r.credentials.get('new')).toMatch(/^pw-/) // the file's password was stale: the gateway had no such device
    expect(r.credentials.get('old-unknown')).toMatch(/^pw-/)
    expect(calls.filter((c) => c.endsWith('old-unknown'))).toEqual(['PUT old-unknown', 'DELETE old-unknown', 'PUT old-unknown'])
  })

  it('stops with a SimError naming the device and the gateway error', async () => {
    const http = { call: async () => ({ status: 400, body: { error: { code: 'DEVICE_ID_INVALID', message: 'bad id' } } }) } as unknown as GatewayHttp
    await expect(registerDevices(http, ['x'], new Map(), { concurrency: 4 })).rejects.toThrow('registering device x: 400 DEVICE_ID_INVALID: bad id')
  })
})
