import type { CompatibilityMode } from '../../schemas/compatibility.js'
import type { AppendOutcome, SchemaStore, StoredSchemaVersion, StoredSubject, TopicSchemas } from '../../schemas/store.js'
import { execMulti, LuaScript, num, type RedisConnection } from './connection.js'

// The schema registry on Redis. Keys under the engine's prefix P:
//   P schema:subjects       ZSET  every subject, all with score 0 (listed in name order)
//   P schema:s:{subject}    HASH  compatibility, latest, createdAt, updatedAt
//   P schema:v:{subject}    HASH  version → StoredSchemaVersion as JSON
//   P schema:ids:{subject}  HASH  content id → version
//   P schema:topics         HASH  topic → TopicSchemas as JSON
// A new version is one script (APPEND): it checks that the content is new and that the latest
// version is still the one the caller checked compatibility against, then writes the version,
// the id and the subject in one step; so two nodes registering at once never both get
// version N: the second gets `conflict` and checks again against the first one's version.

// KEYS: s, v, ids, subjects. ARGV: subject, expected latest, id, version JSON, time, compatibility ('' = keep).
const APPEND = new LuaScript(`#!lua
local existing = redis.call('HGET', KEYS[3], ARGV[3])
if existing then
  if ARGV[6] ~= '' and redis.call('HGET', KEYS[1], 'compatibility') ~= ARGV[6] then
    redis.call('HSET', KEYS[1], 'compatibility', ARGV[6], 'updatedAt', ARGV[5])
  end
  return {'exists', existing}
end
local latest = tonumber(redis.call('HGET', KEYS[1], 'latest') or '0')
if latest ~= tonumber(ARGV[2]) then return {'conflict', tostring(latest)} end
local version = latest + 1
redis.call('HSET', KEYS[2], tostring(version), ARGV[4])
redis.call('HSET', KEYS[3], ARGV[3], tostring(version))
if latest == 0 then
  redis.call('HSET', KEYS[1], 'createdAt', ARGV[5], 'compatibility', 'backward')
  redis.call('ZADD', KEYS[4], 0, ARGV[1])
end
redis.call('HSET', KEYS[1], 'latest', tostring(version), 'updatedAt', ARGV[5])
if ARGV[6] ~= '' then redis.call('HSET', KEYS[1], 'compatibility', ARGV[6]) end
return {'created', tostring(version)}
`)

export const SCHEMA_STORE_SCRIPTS = [APPEND]

export function redisSchemaStore (redis: RedisConnection): SchemaStore {
  const { client, prefix: P } = redis
  const subjectsKey = `${P}schema:subjects`
  const topicsKey = `${P}schema:topics`
  const sKey = (subject: string): string => `${P}schema:s:${subject}`
  const vKey = (subject: string): string => `${P}schema:v:${subject}`
  const idsKey = (subject: string): string => `${P}schema:ids:${subject}`

  const subjectOf = (subject: string, h: Record<string, string>): StoredSubject | undefined => h.latest === undefined
    ? undefined
    : { subject, compatibility: h.compatibility as CompatibilityMode, latest: Number(h.latest), createdAt: h.createdAt as string, updatedAt: h.updatedAt as string }

  return {
    subject: async (subject) => subjectOf(subject, await client.hgetall(sKey(subject))),
    async listSubjects () {
      const names = await client.zrange(subjectsKey, 0, -1)
      if (names.length === 0) return []
      const tx = client.multi()
      for (const n of names) tx.hgetall(sKey(n))
      const replies = await execMulti(tx) as Array<Record<string, string>>
      return names.flatMap((n, i) => subjectOf(n, replies[i] ?? {}) ?? [])
    },
    async version (subject, version) {
      const json = await client.hget(vKey(subject), num(version))
      return json === null ? undefined : JSON.parse(json) as StoredSchemaVersion
    },
    async append (subject, expectedLatest, entry, compatibility): Promise<AppendOutcome> {
      const version = expectedLatest + 1
      const stored: StoredSchemaVersion = { subject, version, id: entry.id, schema: entry.schema, createdAt: entry.createdAt }
      const [outcome, n] = await APPEND.run(client, [sKey(subject), vKey(subject), idsKey(subject), subjectsKey],
        [subject, num(expectedLatest), entry.id, JSON.stringify(stored), entry.createdAt, compatibility ?? '']) as [string, string]
      if (outcome === 'created') return { outcome, version: Number(n) }
      if (outcome === 'exists') return { outcome, version: Number(n) }
      return { outcome: 'conflict', latest: Number(n) }
    },
    async topicSchemas (topic) {
      const json = await client.hget(topicsKey, topic)
      return json === null ? undefined : JSON.parse(json) as TopicSchemas
    },
    async putTopicSchemas (topic, schemas) {
      if (Object.keys(schemas).length === 0) await client.hdel(topicsKey, topic)
      else await client.hset(topicsKey, topic, JSON.stringify(schemas))
    }
  }
}
