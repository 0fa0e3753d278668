import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ACCESS_KEY_FILE, resolveTarget } from '../../src/admin/client.js'
import { ACCESS_KEY_FILE as GATEWAY_KEY_FILE } from '../../src/config/access-key.js'
import { useTeardown } from '../helpers/teardown.js'
import { tempDir } from '../helpers/tmp.js'

const teardown = useTeardown()

async function dataDirWithKey (key: string): Promise<string> {
  const dir = await tempDir()
  teardown(dir.remove)
  await mkdir(dir.path, { recursive: true })
  await writeFile(join(dir.path, ACCESS_KEY_FILE), key + '\n')
  return dir.path
}

describe('where the admin CLI finds the gateway and its key', () => {
  it('looks for the key file the gateway writes', () => {
    expect(ACCESS_KEY_FILE).toBe(GATEWAY_KEY_FILE)
  })

  it('prefers --url, then GRIDGATE_URL, then the local gateway of GRIDGATE_HTTP_HOST/PORT, then 127.0.0.1:8080', () => {
    const env = { GRIDGATE_URL: 'http://env:1', GRIDGATE_HTTP_PORT: '9000', GRIDGATE_HTTP_HOST: '10.0.0.2' }
    expect(resolveTarget({ url: 'https://flag:2/base/', env }).url).toBe('https://flag:2/base')
    expect(resolveTarget({ env }).url).toBe('http://env:1')
    expect(resolveTarget({ env: { GRIDGATE_HTTP_PORT: '9000', GRIDGATE_HTTP_HOST: '0.0.0.0' } }).url).toBe('http://127.0.0.1:9000')
    expect(resolveTarget({ env: { GRIDGATE_HTTP_HOST: '::1', GRIDGATE_HTTP_PORT: '0' } }).url).toBe('http://[::1]:8080')
    expect(resolveTarget({ env: {} }).url).toBe('http://127.0.0.1:8080')
  })

  it('refuses what is not an http(s) URL', () => {
    expect(() => resolveTarget({ url: 'not a url', env: {} })).toThrow("'not a url' is not a URL")
    expect(() => resolveTarget({ url: 'mqtt://x:1883', env: {} })).toThrow('is not an http(s) URL')
  })

  it('prefers --key, then GRIDGATE_KEY, then the key file of --data-dir or GRIDGATE_DATA_DIR', async () => {
    const dir = await dataDirWithKey('file-key-0123456789')
    expect(resolveTarget({ key: 'flag-key', dataDir: dir, env: { GRIDGATE_KEY: 'env-key' } })).toMatchObject({ key: 'flag-key', keySource: '--key' })
    expect(resolveTarget({ dataDir: dir, env: { GRIDGATE_KEY: 'env-key' } })).toMatchObject({ key: 'env-key', keySource: 'GRIDGATE_KEY' })
    expect(resolveTarget({ dataDir: dir, env: {} })).toMatchObject({ key: 'file-key-0123456789', keySource: join(dir, ACCESS_KEY_FILE) })
    expect(resolveTarget({ env: { GRIDGATE_DATA_DIR: dir } })).toMatchObject({ key: 'file-key-0123456789' })
  })

  it('sends no key when there is none to find', () => {
    const t = resolveTarget({ dataDir: '/nonexistent/gridgate', env: {} })
    expect(t.key).toBeUndefined()
    expect(t.keyFile).toBe(join('/nonexistent/gridgate', ACCESS_KEY_FILE))
  })
})
