import { Ajv, type ErrorObject } from 'ajv'
import { ALL_CLIENTS, CLIENT_GROUP_NAME_PATTERN } from '../core/client-groups.js'
import { parseClientQuery } from '../core/client-query.js'
import { GridgateError } from '../core/errors.js'
import { isValidFilter } from '../core/topic-match.js'
import { configSchema, type Config } from './schema.js'

function describe (e: ErrorObject): string {
  const at = e.instancePath === '' ? '/' : e.instancePath
  if (e.keyword === 'additionalProperties') {
    return `${at}: unknown field '${String(e.params.additionalProperty)}'`
  }
  if (e.keyword === 'enum') {
    return `${at}: must be one of ${(e.params.allowedValues as unknown[]).map(String).join(', ')}`
  }
  return `${at}: ${e.message ?? 'is invalid'}`
}

function deepFreeze<T> (value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const v of Object.values(value)) deepFreeze(v)
  }
  return value
}

const TEMPLATE_VARIABLE = /\$\{([^}]+)\}/g

/** A topic template (mqtt.permissions, permission bindings) at `at`: a valid filter once filled, known variables. */
function templateProblems (at: string, t: string): string[] {
  const problems: string[] = []
  if (!isValidFilter(t.replace(TEMPLATE_VARIABLE, 'x'))) problems.push(`${at}: '${t}' is not a valid MQTT topic filter`)
  for (const m of t.matchAll(TEMPLATE_VARIABLE)) {
    if (!/^client\.(id|username|attributes\.[A-Za-z0-9_.-]+)$/.test(m[1] as string)) problems.push(`${at}: unknown variable \${${m[1] as string}}`)
  }
  return problems
}

const GROUP_NAME = new RegExp(CLIENT_GROUP_NAME_PATTERN)

/** mqtt.clientGroups and mqtt.permissionBindings: names, queries, and bindings to known groups. */
function clientGroupProblems (m: Config['mqtt']): string[] {
  const problems: string[] = []
  for (const [name, query] of Object.entries(m.clientGroups)) {
    const at = `/mqtt/clientGroups/${name}`
    if (name === ALL_CLIENTS) problems.push(`${at}: '${ALL_CLIENTS}' is built in (every client) and cannot be defined`)
    else if (!GROUP_NAME.test(name)) problems.push(`${at}: a client group name is 3-50 letters, digits or '-'`)
    const parsed = parseClientQuery(query)
    if (!parsed.ok) problems.push(`${at}: invalid query ${JSON.stringify(query)}: ${parsed.error}`)
  }
  for (const [i, b] of m.permissionBindings.entries()) {
    const at = `/mqtt/permissionBindings/${i}`
    if (b.clientGroup !== ALL_CLIENTS && !Object.hasOwn(m.clientGroups, b.clientGroup)) {
      problems.push(`${at}/clientGroup: '${b.clientGroup}' is not in mqtt.clientGroups (nor '${ALL_CLIENTS}')`)
    }
    for (const [j, t] of b.topicTemplates.entries()) problems.push(...templateProblems(`${at}/topicTemplates/${j}`, t))
  }
  return problems
}

// Rules one field's schema cannot say.
function crossFieldProblems (c: Config): string[] {
  const problems: string[] = []
  if (c.http.maxEventBytes > c.http.maxBatchBytes) {
    problems.push('/http/maxEventBytes: must not exceed /http/maxBatchBytes')
  }
  const seen = new Map<string, string>()
  for (const [i, t] of c.topics.entries()) {
    const prior = seen.get(t.name)
    if (prior !== undefined) problems.push(`/topics/${i}/name: '${t.name}' is already defined at ${prior}`)
    seen.set(t.name, `/topics/${i}`)
  }
  for (const [i, r] of c.routes.entries()) {
    if (!isValidFilter(r.filter)) problems.push(`/routes/${i}/filter: '${r.filter}' is not a valid MQTT topic filter`)
    if (r.schema !== undefined && r.schemaSubject !== undefined) problems.push(`/routes/${i}/schemaSubject: give either schema (a file) or schemaSubject (the registry), not both`)
    if (r.schemaVersion !== undefined && r.schemaSubject === undefined) problems.push(`/routes/${i}/schemaVersion: needs schemaSubject`)
  }
  for (const set of ['permissions', 'anonymousPermissions'] as const) {
    for (const kind of ['publish', 'subscribe'] as const) {
      for (const [i, t] of c.mqtt[set][kind].entries()) problems.push(...templateProblems(`/mqtt/${set}/${kind}/${i}`, t))
    }
  }
  problems.push(...clientGroupProblems(c.mqtt))
  if ((c.mqtt.tls.cert === undefined) !== (c.mqtt.tls.key === undefined)) {
    problems.push('/mqtt/tls: cert and key go together')
  }
  const ports: Array<[string, number]> = [
    ['/http/port', c.http.port], ['/mqtt/port', c.mqtt.port], ['/mqtt/wsPort', c.mqtt.wsPort],
    ['/mqtt/tlsPort', c.mqtt.tlsPort], ['/mqtt/wssPort', c.mqtt.wssPort]
  ]
  const byPort = new Map<number, string>()
  for (const [field, p] of ports) {
    if (p === 0) continue
    const other = byPort.get(p)
    if (other !== undefined) problems.push(`${field}: port ${p} is already used by ${other}`)
    byPort.set(p, field)
  }
  if (c.cluster.heartbeatExpiryMs <= c.cluster.heartbeatIntervalMs) {
    problems.push('/cluster/heartbeatExpiryMs: must be above /cluster/heartbeatIntervalMs (a live node refreshes its heartbeat before it expires)')
  }
  problems.push(...telemetryWindowProblems(c.telemetry))
  return problems
}

// The window source every window reads unless it names one (telemetry/window-spec.ts).
const DEFAULT_WINDOW_SOURCE = 'telemetry'

/**
 * Across `telemetry.windows` entries and sections. Each entry's own fields are checked at
 * start by telemetry, which owns the window parser (the same as PUT /windows/{name}).
 */
function telemetryWindowProblems (t: Config['telemetry']): string[] {
  const problems: string[] = []
  const names = new Set<string>()
  for (const [i, w] of t.windows.entries()) {
    if (names.has(w.name)) problems.push(`/telemetry/windows/${i}/name: '${w.name}' is defined twice`)
    names.add(w.name)
    const source = w.sourceTopic ?? DEFAULT_WINDOW_SOURCE
    // A source that is not a string is the window parser's to report.
    if (t.enabled && typeof source === 'string' && !t.sources.some((s) => s.topic === source)) {
      problems.push(`/telemetry/windows: window '${w.name}' reads '${source}', which is not in telemetry.sources`)
    }
  }
  return problems
}

/** Validates a raw config object (YAML plus env overrides), fills defaults, and freezes it. */
export function validateConfig (raw: unknown): Config {
  const ajv = new Ajv({ useDefaults: true, allErrors: true, strict: true })
  const check = ajv.compile(configSchema)
  const candidate = structuredClone(raw ?? {})
  if (!check(candidate)) {
    const problems = (check.errors ?? []).map(describe)
    throw new GridgateError('CONFIG_INVALID', `invalid config:\n  ${problems.join('\n  ')}`, { details: { problems } })
  }
  const config = candidate as unknown as Config
  const problems = crossFieldProblems(config)
  if (problems.length > 0) {
    throw new GridgateError('CONFIG_INVALID', `invalid config:\n  ${problems.join('\n  ')}`, { details: { problems } })
  }
  return deepFreeze(config)
}
