import type { ClientGroups } from '../core/client-groups.js'
import { filterCovers, isValidFilter, topicMatches } from '../core/topic-match.js'

// Topic-space permissions as Event Grid's MQTT broker has them: topic templates with
// ${client.id}, ${client.username} and ${client.attributes.KEY} variables, bound to publish
// or subscribe, for client groups (mqtt.permissionBindings; mqtt.permissions is the allow
// binding of `$all`), with deny bindings that win over grants. Pure: which bindings apply and
// their filled templates are worked out once per client, at connect and when its attributes
// change; a publish then costs a lookup in the client's own cache of decided topics.

export interface Identity {
  id: string
  username?: string
  attributes: Readonly<Record<string, string>>
}

export interface Templates {
  publish: readonly string[]
  subscribe: readonly string[]
}

export interface PermissionBinding {
  clientGroup: string
  permission: 'publish' | 'subscribe'
  topicTemplates: readonly string[]
  effect: 'allow' | 'deny'
}

/** What a client is granted and denied, before its variables are filled. */
export interface Grants {
  allow: Templates
  deny: Templates
}

export interface ClientPermissions {
  canPublish: (topic: string) => boolean
  /** Allowed when a grant covers the whole filter and no deny covers all of it. */
  canSubscribe: (filter: string) => boolean
  /**
   * Whether a message on `topic` may be delivered to the client: false when a subscribe deny
   * matches it (a filter that overlaps a deny, such as '+/+' with a deny on 'test/nosubscribe',
   * is allowed, and the denied topics are left out of what it receives).
   */
  canReceive: (topic: string) => boolean
  /** False when the client has no subscribe deny: every delivery is then allowed unchecked. */
  readonly filtersDeliveries: boolean
}

const NO_TEMPLATES: Templates = Object.freeze({ publish: [], subscribe: [] })

/**
 * The grants of a client in `groups` (client-groups.ts): `defaults` (mqtt.permissions, the
 * allow binding of `$all`) and every binding whose group is one of them.
 */
export function grantsFor (defaults: Templates, bindings: readonly PermissionBinding[], groups: readonly string[]): Grants {
  const allow = { publish: [...defaults.publish], subscribe: [...defaults.subscribe] }
  const deny: { publish: string[], subscribe: string[] } = { publish: [], subscribe: [] }
  for (const b of bindings) {
    if (!groups.includes(b.clientGroup)) continue
    (b.effect === 'deny' ? deny : allow)[b.permission].push(...b.topicTemplates)
  }
  return { allow, deny }
}

/** Decisions kept per client, so a device publishing to its few topics matches each once. */
const DECISION_CACHE_SIZE = 256

function remember (decisions: Map<string, boolean> | undefined, key: string, d: boolean): Map<string, boolean> {
  const map = decisions ?? new Map<string, boolean>()
  if (map.size >= DECISION_CACHE_SIZE) map.clear()
  map.set(key, d)
  return map
}

/**
 * One client's filled filters and the decisions it has asked for. A class, not closures over
 * them: every connection holds one, and three closures with their contexts and two maps made
 * up a sizeable part of what an idle connection costs.
 */
class FilledPermissions implements ClientPermissions {
  readonly filtersDeliveries: boolean
  private published: Map<string, boolean> | undefined
  private received: Map<string, boolean> | undefined

  constructor (
    private readonly publish: readonly string[],
    private readonly subscribe: readonly string[],
    private readonly denyPublish: readonly string[],
    private readonly denySubscribe: readonly string[]
  ) {
    this.filtersDeliveries = denySubscribe.length > 0
  }

  canPublish (topic: string): boolean {
    const known = this.published?.get(topic)
    if (known !== undefined) return known
    // MQTT 3.1.1 §4.7.3: topic names and filters must not contain U+0000 (a will on one was let through).
    const d = !topic.includes('\0') && this.publish.some((f) => topicMatches(f, topic)) && !this.denyPublish.some((f) => topicMatches(f, topic))
    this.published = remember(this.published, topic, d)
    return d
  }

  canSubscribe (filter: string): boolean {
    return !filter.includes('\0') && isValidFilter(filter) && this.subscribe.some((f) => filterCovers(f, filter)) && !this.denySubscribe.some((f) => filterCovers(f, filter))
  }

  canReceive (topic: string): boolean {
    if (this.denySubscribe.length === 0) return true
    const known = this.received?.get(topic)
    if (known !== undefined) return known
    const d = !this.denySubscribe.some((f) => topicMatches(f, topic))
    this.received = remember(this.received, topic, d)
    return d
  }
}

const VARIABLE = /\$\{([^}]+)\}/g

/**
 * Fills a template for one identity. A variable whose value is missing, or would inject
 * MQTT wildcards or separators, makes the whole template unusable (undefined): it then
 * grants nothing rather than something broader.
 */
export function fillTemplate (template: string, who: Identity): string | undefined {
  let broken = false
  const filled = template.replace(VARIABLE, (_m, name: string) => {
    let value: string | undefined
    if (name === 'client.id') value = who.id
    else if (name === 'client.username') value = who.username
    else if (name.startsWith('client.attributes.')) {
      const key = name.slice('client.attributes.'.length)
      // Own properties only: '__proto__' or 'constructor' must not resolve to Object's.
      value = Object.hasOwn(who.attributes, key) ? who.attributes[key] : undefined
    }
    if (typeof value !== 'string' || value === '' || /[/+#\0]/.test(value)) broken = true
    return typeof value === 'string' ? value : ''
  })
  return broken ? undefined : filled
}

/**
 * A client's permissions: `templates` granted, `deny` refused (deny wins), filled for `who`.
 * A deny template whose variable cannot be filled denies nothing, like a grant that grants nothing.
 */
export function compilePermissions (templates: Templates, who: Identity, deny: Templates = NO_TEMPLATES): ClientPermissions {
  const filled = (list: readonly string[]): string[] => list.map((t) => fillTemplate(t, who)).filter((t): t is string => t !== undefined)
  const publish = filled(templates.publish)
  const subscribe = filled(templates.subscribe)
  const denyPublish = filled(deny.publish)
  const denySubscribe = filled(deny.subscribe)
  return new FilledPermissions(publish, subscribe, denyPublish, denySubscribe)
}

/** What a connecting client is, as the access hooks know it after authenticate. */
export interface PolicyIdentity extends Identity {
  /** Anonymous clients are in no client group: they get mqtt.anonymousPermissions only. */
  anonymous: boolean
}

export interface Policy {
  /** A client's groups and compiled permissions (at connect, and again when its attributes change). */
  resolve: (who: PolicyIdentity) => { groups: string[], permissions: ClientPermissions }
}

export interface PolicyOptions {
  /** mqtt.permissions: the allow binding of `$all`. */
  permissions: Templates
  anonymousPermissions: Templates
  permissionBindings: readonly PermissionBinding[]
  groups: ClientGroups
}

export function createPolicy (opts: PolicyOptions): Policy {
  return {
    resolve (who) {
      if (who.anonymous) return { groups: [], permissions: compilePermissions(opts.anonymousPermissions, who) }
      const groups = opts.groups.of({ authenticationName: who.id, attributes: who.attributes })
      const { allow, deny } = grantsFor(opts.permissions, opts.permissionBindings, groups)
      return { groups, permissions: compilePermissions(allow, who, deny) }
    }
  }
}
