import type { AppendOutcome, SchemaStore, StoredSchemaVersion, StoredSubject, TopicSchemas } from '../../schemas/store.js'
import type { Db, LevelStore } from './db.js'

// The schema registry on an abstract-level store (leveldb and memory). JSON sublevels:
//   schema-subjects  subject → StoredSubject plus `ids` (content id → version)
//   schema-versions  `{subject}!{version, 10 digits}` → StoredSchemaVersion ('!' sorts before
//                    every character a subject may hold, so one subject's versions are a range)
//   schema-topics    topic → TopicSchemas
// An embedded store has one process: appends to one subject run one after another (a queue
// per subject, shared by adapters over one database) and write the version and the subject
// in one batch, so the expected-latest check and the write cannot interleave.

interface SubjectRecord extends StoredSubject {
  ids: Record<string, number>
}

const queuesByDb = new WeakMap<Db, Map<string, Promise<void>>>()
const versionKey = (subject: string, version: number): string => `${subject}!${String(version).padStart(10, '0')}`

const publicSubject = (r: SubjectRecord): StoredSubject =>
  ({ subject: r.subject, compatibility: r.compatibility, latest: r.latest, createdAt: r.createdAt, updatedAt: r.updatedAt })

export function levelSchemaStore (store: LevelStore): SchemaStore {
  const subjects = store.json('schema-subjects')
  const versions = store.json('schema-versions')
  const topics = store.json('schema-topics')
  const tails = queuesByDb.get(store.db) ?? new Map<string, Promise<void>>()
  queuesByDb.set(store.db, tails)

  const serially = <T>(key: string, write: () => Promise<T>): Promise<T> => {
    const run = (tails.get(key) ?? Promise.resolve()).then(write)
    const tail = run.then(() => undefined, () => undefined)
    tails.set(key, tail)
    void tail.then(() => { if (tails.get(key) === tail) tails.delete(key) })
    return run
  }

  return {
    async subject (subject) {
      const r = await subjects.get(subject) as SubjectRecord | undefined
      return r === undefined ? undefined : publicSubject(r)
    },
    async listSubjects () {
      return (await subjects.values().all() as SubjectRecord[]).map(publicSubject)
    },
    version: async (subject, version) => await versions.get(versionKey(subject, version)) as StoredSchemaVersion | undefined,
    append: (subject, expectedLatest, entry, compatibility) => serially(subject, async (): Promise<AppendOutcome> => {
      const current = await subjects.get(subject) as SubjectRecord | undefined
      const existing = current?.ids[entry.id]
      if (current !== undefined && existing !== undefined) {
        if (compatibility !== undefined && compatibility !== current.compatibility) {
          await subjects.put(subject, { ...current, compatibility, updatedAt: entry.createdAt })
        }
        return { outcome: 'exists', version: existing }
      }
      const latest = current?.latest ?? 0
      if (latest !== expectedLatest) return { outcome: 'conflict', latest }
      const version = latest + 1
      const record: SubjectRecord = {
        subject,
        compatibility: compatibility ?? current?.compatibility ?? 'backward',
        latest: version,
        createdAt: current?.createdAt ?? entry.createdAt,
        updatedAt: entry.createdAt,
        ids: { ...current?.ids, [entry.id]: version }
      }
      const stored: StoredSchemaVersion = { subject, version, id: entry.id, schema: entry.schema, createdAt: entry.createdAt }
      await store.batch([
        { type: 'put', sublevel: versions, key: versionKey(subject, version), value: stored },
        { type: 'put', sublevel: subjects, key: subject, value: record }
      ])
      return { outcome: 'created', version }
    }),
    topicSchemas: async (topic) => await topics.get(topic) as TopicSchemas | undefined,
    putTopicSchemas: (topic, schemas) => serially(`topic!${topic}`, async () => {
      if (Object.keys(schemas).length === 0) await topics.del(topic)
      else await topics.put(topic, schemas)
    })
  }
}
