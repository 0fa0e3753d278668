import { describe, expect, it } from 'vitest'
import type { Share, ShareMember, SharedGroups } from '../../src/broker/shared-groups.js'

// What every SharedGroups implementation must do (the in-process one now, a Redis one with the
// cluster issue): membership per share, the shares matching a topic, and a fair turn.

const member = (id: string, qos: 0 | 1 = 1, node = 'n1'): ShareMember => ({ id, clientId: `client-${id}`, node, qos })
const TELEMETRY: Share = { group: 'g1', filter: 'devices/+/telemetry' }

export function sharedGroupsContract (name: string, open: () => Promise<SharedGroups>): void {
  describe(`SharedGroups contract: ${name}`, () => {
    it('gives each member its turn in join order, one member further on each call', async () => {
      const groups = await open()
      for (const id of ['a', 'b', 'c']) await groups.join(TELEMETRY, member(id))
      const firsts: string[] = []
      for (let i = 0; i < 6; i++) firsts.push((await groups.turn(TELEMETRY))[0]?.id ?? '')
      expect(firsts).toEqual(['a', 'b', 'c', 'a', 'b', 'c'])
      expect((await groups.turn(TELEMETRY)).map((m) => m.id)).toEqual(['a', 'b', 'c'])
      expect((await groups.turn(TELEMETRY)).map((m) => m.id)).toEqual(['b', 'c', 'a'])
    })

    it('keeps one entry per member: joining again updates its QoS', async () => {
      const groups = await open()
      await groups.join(TELEMETRY, member('a', 1))
      await groups.join(TELEMETRY, member('a', 0))
      expect(await groups.turn(TELEMETRY)).toEqual([member('a', 0)])
    })

    it('keeps members of other nodes and their connection ids apart', async () => {
      const groups = await open()
      await groups.join(TELEMETRY, member('n1:1', 1, 'n1'))
      await groups.join(TELEMETRY, member('n2:1', 1, 'n2'))
      expect((await groups.turn(TELEMETRY)).map((m) => m.node)).toEqual(['n1', 'n2'])
    })

    it('forgets a member that leaves, and a share without members', async () => {
      const groups = await open()
      await groups.join(TELEMETRY, member('a'))
      await groups.join(TELEMETRY, member('b'))
      await groups.leave(TELEMETRY, 'a')
      expect((await groups.turn(TELEMETRY)).map((m) => m.id)).toEqual(['b'])
      await groups.leave(TELEMETRY, 'b')
      await groups.leave(TELEMETRY, 'b')
      expect(await groups.turn(TELEMETRY)).toEqual([])
      expect(groups.matching('devices/d1/telemetry')).toEqual([])
    })

    it('names the shares whose filter matches a topic, by group and filter', async () => {
      const groups = await open()
      await groups.join(TELEMETRY, member('a'))
      await groups.join({ group: 'g2', filter: 'devices/+/telemetry' }, member('b'))
      await groups.join({ group: 'g1', filter: 'devices/#' }, member('c'))
      await groups.join({ group: 'sys', filter: '#' }, member('d'))
      const key = (s: Share): string => `${s.group} ${s.filter}`
      expect(groups.matching('devices/d1/telemetry').map(key).sort()).toEqual(['g1 devices/#', 'g1 devices/+/telemetry', 'g2 devices/+/telemetry', 'sys #'])
      expect(groups.matching('devices/d1/events/x').map(key).sort()).toEqual(['g1 devices/#', 'sys #'])
      // [MQTT-4.7.2-1]: a filter starting with a wildcard does not match '$' topics.
      expect(groups.matching('$SYS/broker/uptime')).toEqual([])
    })
  })
}
