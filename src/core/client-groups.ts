import { parseClientQuery, type ClientQuery, type QueryClient } from './client-query.js'
import { GridgateError } from './errors.js'

// mqtt.clientGroups: named client queries (client-query.ts), as Event Grid's client groups.
// Every registered client is in the built-in group `$all`; the others hold the clients their
// query matches. Pure: compiled once from the frozen config.

export const ALL_CLIENTS = '$all'

/** Event Grid's rule for client group names: 3-50 letters, digits and '-'. */
export const CLIENT_GROUP_NAME_PATTERN = '^[A-Za-z0-9-]{3,50}$'

export interface ClientGroups {
  /** The configured group names, `$all` first. */
  readonly names: readonly string[]
  /** The groups `client` is in, `$all` first, then in configuration order. */
  of: (client: QueryClient) => string[]
}

export function compileClientGroups (definitions: Readonly<Record<string, string>>): ClientGroups {
  const groups: Array<[string, ClientQuery]> = []
  for (const [name, text] of Object.entries(definitions)) {
    const parsed = parseClientQuery(text)
    // The config validation already refused these; reaching here is a programming error.
    if (!parsed.ok) throw new GridgateError('CONFIG_INVALID', `client group '${name}': ${parsed.error}`)
    groups.push([name, parsed.query])
  }
  return {
    names: Object.freeze([ALL_CLIENTS, ...groups.map(([name]) => name)]),
    of: (client) => [ALL_CLIENTS, ...groups.filter(([, q]) => q.matches(client)).map(([name]) => name)]
  }
}
