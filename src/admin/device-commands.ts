import { EXIT, intOption, stringOption, UsageError } from './args.js'
import { pathOf } from './client.js'
import type { Command } from './command.js'
import { json, keyValues, table } from './format.js'

// gridgate commands send|list|show: commands to devices (POST /devices/{id}/commands).

interface DeviceCommand {
  id: string
  name: string
  status: string
  createdAt?: string
  updatedAt?: string
  [field: string]: unknown
}

export const deviceCommandCommands: readonly Command[] = [
  {
    group: 'commands',
    name: 'send',
    args: ['DEVICE', 'NAME'],
    summary: 'Send a command to a device; with --wait, wait for its end state.',
    details: [`Exit code ${EXIT.commandFailed} when --wait is given and the command ends other than succeeded (failed, timedOut,`,
      'expired, canceled) or has not ended when the wait runs out.'],
    options: {
      payload: { type: 'string', value: 'JSON', help: 'the command\'s payload, as JSON (default null)' },
      wait: { type: 'string', value: 'SECONDS', help: 'hold the answer until the command ends, at most this long (up to commands.maxWaitSeconds)' },
      timeout: { type: 'string', value: 'SECONDS', help: 'how long the device has to answer once sent (default: the gateway\'s)' },
      ttl: { type: 'string', value: 'SECONDS', help: 'how long the command may wait for an offline device (default: the gateway\'s)' },
      id: { type: 'string', value: 'ID', help: 'the command id: sending the same id again is the same command' }
    },
    async run (ctx, [device = '', name = ''], values, usage) {
      const raw = stringOption(values, 'payload')
      let payload: unknown = null
      if (raw !== undefined) {
        try {
          payload = JSON.parse(raw)
        } catch {
          throw new UsageError(`${usage}: --payload is not JSON: ${raw} (quote strings: '"text"')`)
        }
      }
      const wait = intOption(values, 'wait', usage)
      const body = { name, payload, timeoutSeconds: intOption(values, 'timeout', usage, 1), ttlSeconds: intOption(values, 'ttl', usage, 1), id: stringOption(values, 'id') }
      const command = await ctx.api.call<DeviceCommand>('POST', `${pathOf('devices', device)}/commands`, {
        body,
        query: { wait: wait === undefined || wait === 0 ? undefined : wait },
        timeoutMs: ((wait ?? 0) + 30) * 1000
      })
      ctx.out(ctx.json ? json(command) : keyValues(command))
      if (wait === undefined || wait === 0) return EXIT.ok
      return command.status === 'succeeded' ? EXIT.ok : EXIT.commandFailed
    }
  },
  {
    group: 'commands',
    name: 'list',
    args: ['DEVICE'],
    summary: 'List a device\'s commands, newest first.',
    options: {
      status: { type: 'string', value: 'STATUS', help: 'only those in this state (pending, sent, delivered, succeeded, failed, timedOut, expired, canceled)' },
      limit: { type: 'string', value: 'N', help: 'at most this many (default 50)' }
    },
    async run (ctx, [device = ''], values, usage) {
      const page = await ctx.api.call<{ value: DeviceCommand[], next?: number | null }>('GET', `${pathOf('devices', device)}/commands`, {
        query: { status: stringOption(values, 'status'), limit: intOption(values, 'limit', usage, 1) }
      })
      if (ctx.json) ctx.out(json(page))
      else if (page.value.length === 0) ctx.out(`no commands for ${device}\n`)
      else {
        ctx.out(table(['ID', 'NAME', 'STATUS', 'CREATED', 'UPDATED'], page.value.map((c) => [c.id, c.name, c.status, c.createdAt, c.updatedAt])))
      }
      return EXIT.ok
    }
  },
  {
    group: 'commands',
    name: 'show',
    args: ['DEVICE', 'ID'],
    summary: 'Show one command and its state.',
    async run (ctx, [device = '', id = '']) {
      const command = await ctx.api.call<DeviceCommand>('GET', `${pathOf('devices', device)}/commands${pathOf(id)}`)
      ctx.out(ctx.json ? json(command) : keyValues(command))
      return EXIT.ok
    }
  }
]
