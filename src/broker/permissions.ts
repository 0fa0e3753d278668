import { filterCovers, isValidFilter, topicMatches } from '../core/topic-match.js'

// Topic-space permissions as Event Grid's MQTT broker has them: topic templates with
// ${client.id}, ${client.username} and ${client.attributes.KEY} variables, bound to publish
// or subscribe. Pure: the templates are filled once per client at connect.

export interface Identity {
  id: string
  username?: string
  attributes: Readonly<Record<string, string>>
}

export interface Templates {
  publish: readonly string[]
  subscribe: readonly string[]
}

export interface ClientPermissions {
  canPublish: (topic: string) => boolean
  canSubscribe: (filter: string) => boolean
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

export function compilePermissions (templates: Templates, who: Identity): ClientPermissions {
  const filled = (list: readonly string[]): string[] => list.map((t) => fillTemplate(t, who)).filter((t): t is string => t !== undefined)
  const publish = filled(templates.publish)
  const subscribe = filled(templates.subscribe)
  return {
    // MQTT 3.1.1 §4.7.3: topic names and filters must not contain U+0000 (a will on one was let through).
    canPublish: (topic) => !topic.includes('\0') && publish.some((f) => topicMatches(f, topic)),
    canSubscribe: (filter) => !filter.includes('\0') && isValidFilter(filter) && subscribe.some((f) => filterCovers(f, filter))
  }
}
