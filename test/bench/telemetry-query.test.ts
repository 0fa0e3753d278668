import { describe, expect, it } from 'vitest'
import { DAY, DEVICE, METRIC, rawScan } from '../../bench/telemetry-query.js'
import { encodeTime } from '../../src/storage/level/keys.js'
import { levelTelemetryStore } from '../../src/storage/level/telemetry-store.js'
import { aggregateRecord, createAggregate } from '../../src/telemetry/aggregate.js'
import { EMBEDDED_ENGINES } from '../helpers/engines.js'
import { useTeardown } from '../helpers/teardown.js'

// `npm run bench -- --only telemetry` times queries against a raw scan of the stored rollups.
// The scan reads the store's bytes directly, so a change of the stored form would stop the
// bench, which npm test does not run: here it reads a store written as the gateway writes it.
const teardown = useTeardown()

describe('the telemetry query bench baseline', () => {
  it('reads every bucket of the day as the store holds it, bytes and older JSON records alike', async () => {
    const engine = EMBEDDED_ENGINES.find((e) => e.durable) ?? EMBEDDED_ENGINES[0]!
    const handle = await engine.open()
    teardown(async () => { await handle.cleanup() })
    const agg = createAggregate()
    agg.add(DAY + 500, 21.5)
    const json = agg.toJSON()
    await levelTelemetryStore(handle.store).commit([1, 2, 3].map((s) => ({ kind: 'bucket' as const, deviceId: DEVICE, metric: METRIC, end: DAY + s * 1000, agg: json })))
    await handle.store.json('telemetry').put(`r!${DEVICE}!${METRIC}!${encodeTime(DAY + 4000)}`, aggregateRecord(json))
    expect(await rawScan(handle.store)()).toBe(4)
  })
})
