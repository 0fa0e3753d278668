import { EXIT, listOption, UsageError } from './args.js'
import { pathOf } from './client.js'
import type { Command, List } from './command.js'
import { json, keyValues, table } from './format.js'

// gridgate devices add|list|show|rm: the device registry (PUT/GET/DELETE /devices/{id}).

interface Device {
  id: string
  attributes?: Record<string, string>
  connected?: boolean
  lastSeen?: string | null
  createdAt?: string
  password?: string
  [field: string]: unknown
}

function attributes (pairs: string[], usage: string): Record<string, string> | undefined {
  if (pairs.length === 0) return undefined
  const out: Record<string, string> = {}
  for (const pair of pairs) {
    const at = pair.indexOf('=')
    if (at < 1) throw new UsageError(`${usage}: --attr takes KEY=VALUE, not '${pair}'`)
    out[pair.slice(0, at)] = pair.slice(at + 1)
  }
  return out
}

export const deviceCommands: readonly Command[] = [
  {
    group: 'devices',
    name: 'add',
    args: ['ID'],
    summary: 'Register a device (or update its attributes); its MQTT password is shown once, when it is created.',
    options: { attr: { type: 'string', multiple: true, value: 'KEY=VALUE', help: 'a device attribute' } },
    async run (ctx, [id = ''], values, usage) {
      const attrs = attributes(listOption(values, 'attr'), usage)
      const device = await ctx.api.call<Device>('PUT', pathOf('devices', id), { body: attrs === undefined ? undefined : { attributes: attrs } })
      if (ctx.json) ctx.out(json(device))
      else if (device.password !== undefined) {
        ctx.out(`registered device ${device.id}\npassword: ${device.password}\n(shown only this once: the gateway keeps a hash; the device connects with client id = username = ${device.id})\n`)
      } else ctx.out(`device ${device.id} already exists; ${attrs === undefined ? 'nothing changed' : 'attributes updated'} (its password is unchanged)\n`)
      return EXIT.ok
    }
  },
  {
    group: 'devices',
    name: 'list',
    args: [],
    summary: 'List the registered devices with their presence.',
    async run (ctx) {
      const list = await ctx.api.call<List<Device>>('GET', '/devices')
      if (ctx.json) ctx.out(json(list))
      else if (list.value.length === 0) ctx.out('no devices\n')
      else {
        ctx.out(table(['ID', 'CONNECTED', 'LAST SEEN', 'ATTRIBUTES'], list.value.map((d) => [
          d.id,
          d.connected === true ? 'yes' : 'no',
          d.lastSeen,
          Object.entries(d.attributes ?? {}).map(([k, v]) => `${k}=${v}`).join(',')
        ])))
      }
      return EXIT.ok
    }
  },
  {
    group: 'devices',
    name: 'show',
    args: ['ID'],
    summary: 'Show one device.',
    async run (ctx, [id = '']) {
      const device = await ctx.api.call<Device>('GET', pathOf('devices', id))
      ctx.out(ctx.json ? json(device) : keyValues(device))
      return EXIT.ok
    }
  },
  {
    group: 'devices',
    name: 'rm',
    args: ['ID'],
    summary: 'Remove a device; its open MQTT connections are closed.',
    async run (ctx, [id = '']) {
      await ctx.api.call('DELETE', pathOf('devices', id))
      ctx.out(ctx.json ? json({ removed: id }) : `removed device ${id}\n`)
      return EXIT.ok
    }
  }
]
