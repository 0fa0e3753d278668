import type { Writable } from 'node:stream'
import { validateConfig } from '../../src/config/validate.js'
import type { Clock } from '../../src/core/clock.js'
import { startGateway, type Gateway } from '../../src/main.js'
import { createLogger } from '../../src/observability/logger.js'
import { client, type Client } from './http.js'
import { tempDir } from './tmp.js'

export const TEST_KEY = 'test-key-0123456789abcdef'

/**
 * The storage engine in-process test gateways run on: `leveldb` unless GRIDGATE_TEST_ENGINE
 * says otherwise (the `flows-memory` project runs the flows again on `memory`). Tests that
 * restart a gateway on the same data use `durableOnly` (nothing survives on memory).
 */
export const TEST_ENGINE = process.env.GRIDGATE_TEST_ENGINE === 'memory' ? 'memory' : 'leveldb'
export const durableOnly = TEST_ENGINE !== 'memory'

export interface TestGateway extends Client {
  gateway: Gateway
  dataDir: string
  stop: () => Promise<void>
}

/** A whole gateway in this process on port 0 with a temp dataDir. Register `stop` as teardown. */
export async function startTestGateway (overrides: Record<string, any> = {}, opts: { clock?: Clock, dataDir?: string, logTo?: Writable, random?: () => number } = {}): Promise<TestGateway> {
  const dir = opts.dataDir === undefined ? await tempDir() : undefined
  const dataDir = opts.dataDir ?? (dir as { path: string }).path
  let gateway: Gateway
  try {
    const config = validateConfig({
      ...overrides,
      storage: { engine: TEST_ENGINE, ...overrides.storage },
      dataDir,
      log: { level: 'silent', ...overrides.log },
      http: { port: 0, keys: [TEST_KEY], ...overrides.http },
      mqtt: { port: 0, wsPort: 0, tlsPort: 0, wssPort: 0, ...overrides.mqtt }
    })
    const logger = createLogger(config.log.level, opts.logTo)
    gateway = await startGateway(config, { clock: opts.clock, random: opts.random, logger, announce: () => {} })
  } catch (err) {
    // A test that expects the config or the start to fail gets no stop to register: the directory goes now.
    await dir?.remove()
    throw err
  }
  return {
    ...client(gateway.listeners.http, TEST_KEY),
    gateway,
    dataDir,
    stop: async () => {
      await gateway.stop()
      await dir?.remove()
    }
  }
}
