import { describe, expect, it } from 'vitest'
import { coversCommands, createCommandChannel } from '../../src/broker/command-channel.js'

describe('coversCommands', () => {
  it.each([
    { filter: 'devices/d1/commands/#', covers: true },
    { filter: 'devices/d1/commands/+/+', covers: true },
    { filter: 'devices/+/commands/#', covers: true },
    { filter: 'devices/d1/#', covers: true },
    { filter: '#', covers: true },
    { filter: 'devices/d1/commands/reboot/+', covers: false },
    { filter: 'devices/d1/commands/+', covers: false },
    { filter: 'devices/d2/commands/#', covers: false },
    { filter: 'devices/d1/telemetry', covers: false }
  ])('$filter: $covers', ({ filter, covers }) => {
    expect(coversCommands('d1', filter)).toBe(covers)
  })
})

function setup (): { feed: ReturnType<typeof createCommandChannel>, ready: string[], acked: Array<[string, string]> } {
  const feed = createCommandChannel(async () => {})
  const ready: string[] = []
  const acked: Array<[string, string]> = []
  feed.channel.onReady((d) => ready.push(d))
  feed.channel.onAcked((d, t) => acked.push([d, t]))
  return { feed, ready, acked }
}

describe('createCommandChannel', () => {
  it('is ready once a connection subscribes to a filter covering its commands, and says so once per connection', () => {
    const { feed, ready } = setup()
    const conn = {}
    expect(feed.channel.isReady('d1')).toBe(false)
    feed.subscribed(conn, 'd1', ['devices/d1/telemetry'])
    expect(feed.channel.isReady('d1')).toBe(false)
    feed.subscribed(conn, 'd1', ['devices/d1/commands/#', 'devices/d1/commands/+/+'])
    feed.subscribed(conn, 'd1', ['devices/d1/#'])
    expect(feed.channel.isReady('d1')).toBe(true)
    expect(feed.channel.isReady('d2')).toBe(false)
    expect(ready).toEqual(['d1'])
  })

  it('stays ready while any connection of the device is subscribed', () => {
    const { feed, ready } = setup()
    const a = {}
    const b = {}
    feed.subscribed(a, 'd1', ['devices/d1/commands/#'])
    feed.subscribed(b, 'd1', ['devices/d1/commands/#'])
    expect(ready).toEqual(['d1', 'd1'])
    feed.closed(a, 'd1')
    expect(feed.channel.isReady('d1')).toBe(true)
    feed.closed(b, 'd1')
    expect(feed.channel.isReady('d1')).toBe(false)
    feed.closed(b, 'd1') // twice, or for a connection that never subscribed: nothing
    feed.closed({}, 'd9')
    expect(feed.channel.isReady('d1')).toBe(false)
  })

  it('says ready again when a device subscribes after its connections closed', () => {
    const { feed, ready } = setup()
    feed.subscribed({}, 'd1', ['devices/d1/commands/#'])
    feed.closed({}, 'd1')
    const again = {}
    feed.closed(again, 'd1')
    feed.subscribed(again, 'd1', ['devices/d1/commands/#'])
    expect(ready).toEqual(['d1', 'd1'])
  })

  it('passes acknowledgements on, and publishes through the given function', async () => {
    const sent: Array<[string, string]> = []
    const feed = createCommandChannel(async (topic, payload) => { sent.push([topic, payload.toString()]) })
    const acked: Array<[string, string]> = []
    feed.channel.onAcked((d, t) => acked.push([d, t]))
    feed.acked('d1', 'devices/d1/commands/reboot/c1')
    await feed.channel.publish('devices/d1/commands/reboot/c2', Buffer.from('{}'))
    expect(acked).toEqual([['d1', 'devices/d1/commands/reboot/c1']])
    expect(sent).toEqual([['devices/d1/commands/reboot/c2', '{}']])
  })
})
