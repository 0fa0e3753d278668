import type { CompatibilityMode, JsonSchemaDoc } from './compatibility.js'

// What the schema registry keeps in storage: subjects, their immutable versions, and which
// subject each event type of a topic is checked against. An engine implements this port
// (src/storage/level/schema-store.ts, src/storage/redis/redis-schema-store.ts);
// test/schemas/schema-store.contract.ts is the suite it must pass. No engine type here.

export interface StoredSchemaVersion {
  subject: string
  /** 1, 2, 3, ... per subject, gap-free. */
  version: number
  /** The content id: the same schema has the same id in every subject. */
  id: string
  schema: JsonSchemaDoc
  /** ISO 8601. */
  createdAt: string
}

export interface StoredSubject {
  subject: string
  compatibility: CompatibilityMode
  /** The highest version. */
  latest: number
  createdAt: string
  updatedAt: string
}

/** Which subject (and optionally which fixed version; else the latest) an event type is checked against. */
export interface SchemaBinding {
  subject: string
  version?: number
}

/** Event type → binding, for one topic. */
export type TopicSchemas = Record<string, SchemaBinding>

export type AppendOutcome =
  /** Written as version `version` (= the expected latest + 1). */
  | { outcome: 'created', version: number }
  /** A version with the same content id exists already: nothing written but the mode. */
  | { outcome: 'exists', version: number }
  /** The latest version is no longer the expected one (another writer won): check again. */
  | { outcome: 'conflict', latest: number }

/**
 * The registry's records, possibly shared by several gateway processes. An implementation
 * must guarantee:
 * - `append` is one atomic step: of concurrent appends expecting the same latest version
 *   (from any instance, on any node), at most one creates the next version; the others get
 *   `conflict` (or `exists` when their content is already there). Versions are gap-free.
 * - Versions never change once written; the subject record changes only through `append`.
 * - What is returned is a copy: mutating it changes nothing stored.
 * - `listSubjects` orders by subject name (code-unit order).
 */
export interface SchemaStore {
  subject: (subject: string) => Promise<StoredSubject | undefined>
  listSubjects: () => Promise<StoredSubject[]>
  version: (subject: string, version: number) => Promise<StoredSchemaVersion | undefined>
  /**
   * When no version of the subject has `entry.id`: writes the version `expectedLatest + 1` if
   * the subject's latest is still `expectedLatest` (0: the subject does not exist yet), and
   * sets the subject's compatibility when one is given. When a version has that id: sets only
   * the compatibility (if given) and answers `exists` with that version.
   */
  append: (subject: string, expectedLatest: number, entry: { id: string, schema: JsonSchemaDoc, createdAt: string }, compatibility?: CompatibilityMode) => Promise<AppendOutcome>
  topicSchemas: (topic: string) => Promise<TopicSchemas | undefined>
  /** Replaces the topic's bindings whole; an empty map removes them. */
  putTopicSchemas: (topic: string, schemas: TopicSchemas) => Promise<void>
}
