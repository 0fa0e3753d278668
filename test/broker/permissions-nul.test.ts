import { describe, expect, it } from 'vitest'
import { compilePermissions } from '../../src/broker/permissions.js'

// Found by the reliability suite's permissions matrix: a will on `devices/{id}/events/<NUL>`
// was accepted at CONNECT, since the template matched; MQTT 3.1.1 §4.7.3 forbids U+0000.

describe('permissions and U+0000', () => {
  /* eslint-disable no-template-curly-in-string */
  const perms = compilePermissions({ publish: ['devices/${client.id}/events/#', 'devices/${client.id}/telemetry'], subscribe: ['devices/${client.id}/commands/#'] }, { id: 'd1', attributes: {} })
  /* eslint-enable no-template-curly-in-string */

  it('refuses a publish (or will) topic holding NUL even inside the device\'s own topic space', () => {
    expect(perms.canPublish('devices/d1/events/x')).toBe(true)
    expect(perms.canPublish('devices/d1/events/\0')).toBe(false)
    expect(perms.canPublish('devices/d1/telemetry\0')).toBe(false)
    expect(perms.canSubscribe('devices/d1/commands/\0/#')).toBe(false)
  })
})
