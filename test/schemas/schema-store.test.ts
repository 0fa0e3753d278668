import type { SchemaStore } from '../../src/schemas/store.js'
import { levelSchemaStore } from '../../src/storage/level/schema-store.js'
import type { RedisConnection } from '../../src/storage/redis/connection.js'
import { redisSchemaStore, SCHEMA_STORE_SCRIPTS } from '../../src/storage/redis/redis-schema-store.js'
import { EMBEDDED_ENGINES } from '../helpers/engines.js'
import { useRedisServer } from '../helpers/redis.js'
import { runSchemaStoreContract } from './schema-store.contract.js'

for (const engine of EMBEDDED_ENGINES) {
  runSchemaStoreContract(engine.name, {
    durable: engine.durable,
    open: async () => {
      const handle = await engine.open()
      return {
        schemas: levelSchemaStore(handle.store),
        another: () => levelSchemaStore(handle.store),
        reopen: engine.durable ? async () => levelSchemaStore(await handle.reopen()) : undefined,
        cleanup: handle.cleanup
      }
    }
  })
}

// The redis engine: a redis-server of this file, a fresh key prefix per case; `another` is a
// second connection on the same prefix (another node), `reopen` a new connection.
const redis = useRedisServer()
runSchemaStoreContract('redis', {
  durable: true,
  open: async () => {
    const prefix = redis.freshPrefix()
    const conns: RedisConnection[] = []
    const open = async (): Promise<SchemaStore> => {
      const conn = await redis.connect(prefix)
      conns.push(conn)
      await conn.loadScripts(SCHEMA_STORE_SCRIPTS)
      return redisSchemaStore(conn)
    }
    const schemas = await open()
    const other = await open()
    return {
      schemas,
      another: () => other,
      reopen: open,
      cleanup: async () => { for (const c of conns) await c.close() }
    }
  }
})
