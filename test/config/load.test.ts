import { afterAll, beforeAll, describe, it, expect } from 'vitest'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DEFAULT_CONFIG_PATH, loadConfig, parseConfigText } from '../../src/config/load.js'
import { validateConfig } from '../../src/config/validate.js'
import { GridgateError } from '../../src/core/errors.js'
import { caught } from '../helpers/errors.js'

let dir = ''
let n = 0

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gridgate-load-test-'))
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function yamlFile (text: string): Promise<string> {
  const file = join(dir, `config-${n++}.yaml`)
  await writeFile(file, text, 'utf8')
  return file
}

async function rejection (promise: Promise<unknown>): Promise<GridgateError> {
  try {
    await promise
  } catch (err) {
    if (err instanceof GridgateError) return err
    throw err
  }
  throw new Error('expected a GridgateError, but the promise resolved')
}

describe('loadConfig', () => {
  it('loads the shipped config/default.yaml to the same config as validateConfig({})', async () => {
    const config = await loadConfig(DEFAULT_CONFIG_PATH, {})
    expect(config).toEqual(validateConfig({}))
  })

  it('has the shipped defaults file set no value that differs from the schema default', async () => {
    const text = await readFile(DEFAULT_CONFIG_PATH, 'utf8')
    const raw = parseConfigText(text, DEFAULT_CONFIG_PATH)
    expect(Object.keys(raw).length).toBeGreaterThan(0)
    expect(validateConfig({})).toMatchObject(raw)
  })

  it('loads the shipped defaults when called with no file', async () => {
    expect(await loadConfig(undefined, {})).toEqual(validateConfig({}))
  })

  it.each([
    { name: 'an empty file', text: '' },
    { name: 'a file of comments only', text: '# nothing here\n' },
    { name: 'an explicit null document', text: '~\n' }
  ])('loads $name as the defaults', async ({ text }) => {
    expect(await loadConfig(await yamlFile(text), {})).toEqual(validateConfig({}))
  })

  it('reads the values in the file and fills the rest', async () => {
    const file = await yamlFile('http:\n  port: 9000\nstorage:\n  sync: false\ntopics:\n  - name: telemetry\n    retention: { maxAgeSeconds: 86400 }\n')
    const config = await loadConfig(file, {})
    expect(config.http.port).toBe(9000)
    expect(config.http.host).toBe('127.0.0.1')
    expect(config.storage.sync).toBe(false)
    expect(config.topics).toEqual([{ name: 'telemetry', retention: { maxAgeSeconds: 86400 } }])
    expect(Object.isFrozen(config.http)).toBe(true)
  })

  it.each([
    { name: 'GRIDGATE_HTTP_PORT', env: { GRIDGATE_HTTP_PORT: '9191' }, pointer: ['http', 'port'], value: 9191 },
    { name: 'GRIDGATE_DATA_DIR', env: { GRIDGATE_DATA_DIR: '/srv/gg' }, pointer: ['dataDir'], value: '/srv/gg' },
    { name: 'GRIDGATE_MQTT_ALLOW_ANONYMOUS', env: { GRIDGATE_MQTT_ALLOW_ANONYMOUS: '1' }, pointer: ['mqtt', 'allowAnonymous'], value: true },
    { name: 'GRIDGATE_HTTP_KEYS', env: { GRIDGATE_HTTP_KEYS: 'env-key-0123456789' }, pointer: ['http', 'keys'], value: ['env-key-0123456789'] }
  ])('applies $name over the file', async ({ env, pointer, value }) => {
    const file = await yamlFile('dataDir: ./file\nhttp:\n  port: 9000\n  keys: [file-key-0123456789]\nmqtt:\n  allowAnonymous: false\n')
    const config = await loadConfig(file, env) as unknown as Record<string, unknown>
    let node: unknown = config
    for (const key of pointer) node = (node as Record<string, unknown>)[key]
    expect(node).toEqual(value)
  })

  it('validates a value that came from the environment', async () => {
    const file = await yamlFile('http:\n  port: 9000\n')
    const err = await rejection(loadConfig(file, { GRIDGATE_HTTP_PORT: '70000' }))
    expect(err.code).toBe('CONFIG_INVALID')
    expect(err.message).toContain('/http/port')
  })

  it('refuses a malformed environment override, naming the variable', async () => {
    const file = await yamlFile('http:\n  port: 9000\n')
    const err = await rejection(loadConfig(file, { GRIDGATE_HTTP_PORT: 'http' }))
    expect(err.code).toBe('CONFIG_INVALID')
    expect(err.message).toContain('GRIDGATE_HTTP_PORT')
  })

  it.each([
    { name: 'an unclosed flow mapping', text: 'http: { port: 8080\n', line: 2 },
    { name: 'a bad indentation', text: 'http:\n  port: 8080\n   host: x\n', line: 2 },
    { name: 'a duplicate key', text: 'http:\n  port: 1\n  port: 2\n', line: 3 },
    { name: 'a tab indentation', text: 'http:\n\tport: 8080\n', line: 2 },
    { name: 'an unterminated quote', text: 'dataDir: "./data\n', line: 2 }
  ])('refuses YAML with $name, naming the file and line $line', async ({ text, line }) => {
    const file = await yamlFile(text)
    const err = await rejection(loadConfig(file, {}))
    expect(err.code).toBe('CONFIG_INVALID')
    expect(err.message.startsWith(`${file}: `)).toBe(true)
    expect(err.message).toContain(`at line ${line}`)
    expect(err.message).not.toContain('invalid config')
  })

  it.each([
    { name: 'a sequence', text: '- http\n- mqtt\n' },
    { name: 'a string', text: 'just a string\n' },
    { name: 'a number', text: '8080\n' },
    { name: 'a boolean', text: 'true\n' }
  ])('refuses $name at the top level', async ({ text }) => {
    const file = await yamlFile(text)
    const err = await rejection(loadConfig(file, {}))
    expect(err.code).toBe('CONFIG_INVALID')
    expect(err.message).toBe(`${file}: the top level must be a mapping of fields`)
  })

  it('refuses a missing file, naming it', async () => {
    const file = join(dir, 'does-not-exist.yaml')
    const err = await rejection(loadConfig(file, {}))
    expect(err.code).toBe('CONFIG_INVALID')
    expect(err.message).toContain(`cannot read config file ${file}`)
    expect((err.cause as NodeJS.ErrnoException).code).toBe('ENOENT')
  })

  it('refuses a directory given as the file', async () => {
    const err = await rejection(loadConfig(dir, {}))
    expect(err.code).toBe('CONFIG_INVALID')
    expect(err.message).toContain('cannot read config file')
  })

  it('prefixes a validation problem with the file and keeps its details', async () => {
    const file = await yamlFile('http:\n  prot: 8080\n')
    const err = await rejection(loadConfig(file, {}))
    expect(err.code).toBe('CONFIG_INVALID')
    expect(err.message.startsWith(`${file}: invalid config`)).toBe(true)
    expect(err.message).toContain("/http: unknown field 'prot'")
    expect(err.details).toEqual({ problems: ["/http: unknown field 'prot'"] })
    expect(err.cause).toBeInstanceOf(GridgateError)
  })

  it('refuses a cross-field problem from the file', async () => {
    const file = await yamlFile('topics:\n  - name: a\n  - name: a\n')
    const err = await rejection(loadConfig(file, {}))
    expect(err.message).toContain("/topics/1/name: 'a' is already defined at /topics/0")
  })
})

describe('parseConfigText', () => {
  it.each([
    { text: '', expected: {} },
    { text: 'a: 1\nb: [x, y]\n', expected: { a: 1, b: ['x', 'y'] } },
    { text: 'http: { port: 0 }', expected: { http: { port: 0 } } }
  ])('parses $text', ({ text, expected }) => {
    expect(parseConfigText(text, 'x.yaml')).toEqual(expected)
  })

  it('names the file in a syntax error', () => {
    const err = caught(() => parseConfigText('a: [1, 2\n', 'conf/x.yaml'))
    expect(err.code).toBe('CONFIG_INVALID')
    expect(err.message.startsWith('conf/x.yaml: ')).toBe(true)
  })
})
