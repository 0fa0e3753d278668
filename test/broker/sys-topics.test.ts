import { describe, expect, it } from 'vitest'
import { startSysPublisher, sysUpdate, type SysMessage, type SysStats } from '../../src/broker/sys-topics.js'
import { ManualClock } from '../../src/core/clock.js'

// $SYS/broker/... in Mosquitto's layout: which messages an update publishes, and when.

const stats = (over: Partial<SysStats> = {}): SysStats => ({
  version: '1.2.3',
  uptimeSeconds: 0,
  clientsConnected: 0,
  clientsMaximum: 0,
  messagesReceived: 0,
  messagesSent: 0,
  publishReceived: 0,
  publishSent: 0,
  bytesReceived: 0,
  bytesSent: 0,
  heapCurrent: 1000,
  heapMaximum: 1000,
  ...over
})

describe('sysUpdate', () => {
  it('publishes every topic the first time, in Mosquitto\'s names and formats', () => {
    const { messages } = sysUpdate(stats({ uptimeSeconds: 12.7, clientsConnected: 3, clientsMaximum: 5, messagesReceived: 40, publishSent: 7 }), undefined)
    expect(Object.fromEntries(messages.map((m) => [m.topic, m.payload]))).toEqual({
      '$SYS/broker/version': 'gridgate version 1.2.3',
      '$SYS/broker/uptime': '12 seconds',
      '$SYS/broker/clients/connected': '3',
      '$SYS/broker/clients/maximum': '5',
      '$SYS/broker/messages/received': '40',
      '$SYS/broker/messages/sent': '0',
      '$SYS/broker/publish/messages/received': '0',
      '$SYS/broker/publish/messages/sent': '7',
      '$SYS/broker/bytes/received': '0',
      '$SYS/broker/bytes/sent': '0',
      '$SYS/broker/heap/current': '1000',
      '$SYS/broker/heap/maximum': '1000'
    })
  })

  it.each([
    { name: 'nothing changed but time', next: { uptimeSeconds: 10 }, topics: ['$SYS/broker/uptime'] },
    { name: 'a client connected', next: { uptimeSeconds: 10, clientsConnected: 1, clientsMaximum: 1 }, topics: ['$SYS/broker/uptime', '$SYS/broker/clients/connected', '$SYS/broker/clients/maximum'] },
    { name: 'traffic both ways', next: { uptimeSeconds: 10, messagesReceived: 2, bytesSent: 9 }, topics: ['$SYS/broker/uptime', '$SYS/broker/messages/received', '$SYS/broker/bytes/sent'] },
    { name: 'less than a second later', next: { uptimeSeconds: 0.5 }, topics: [] },
    { name: 'another version (never: it is static)', next: { uptimeSeconds: 10, version: '9.9.9' }, topics: ['$SYS/broker/uptime'] }
  ])('afterwards publishes only what changed: $name', ({ next, topics }) => {
    const first = sysUpdate(stats(), undefined)
    expect(sysUpdate(stats(next), first.values).messages.map((m) => m.topic)).toEqual(topics)
  })
})

describe('startSysPublisher', () => {
  it('publishes at once, then every interval on the clock, until stopped', () => {
    const clock = new ManualClock(0)
    const published: SysMessage[] = []
    let uptime = 0
    const sys = startSysPublisher({ clock, intervalSeconds: 10, stats: () => stats({ uptimeSeconds: uptime }), publish: (m) => published.push(m) })
    expect(published).toHaveLength(12)
    uptime = 10
    clock.advance(9_999)
    expect(published).toHaveLength(12)
    clock.advance(1)
    expect(published.slice(12)).toEqual([{ topic: '$SYS/broker/uptime', payload: '10 seconds' }])
    uptime = 20
    clock.advance(10_000)
    expect(published).toHaveLength(14)
    sys.stop()
    expect(clock.pendingTimers()).toBe(0)
    clock.advance(60_000)
    expect(published).toHaveLength(14)
  })
})
