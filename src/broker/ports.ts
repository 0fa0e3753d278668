// What the broker hands out and reports: its ports to the rest of the gateway. broker/ never
// imports ingest/ or commands/; main.ts plugs them in.

export interface DevicePublish {
  deviceId: string
  mqttTopic: string
  payload: Buffer
  qos: number
  retain: boolean
}

export interface BrokerPorts {
  /** Resolves once the message is durably handled; the PUBACK waits for it. */
  onPublish: (msg: DevicePublish) => Promise<void>
  /**
   * A device connection became live or ended: the `system` topic's device.connected and
   * device.disconnected. Exactly one `false` after each `true` per connection, cluster-wide
   * (presence.ts, registry/presence.ts): on a cluster another node may report the end of a
   * connection this one held (a takeover, a revocation, a dead node). `live` is the number of
   * this node's live connections over all devices.
   */
  onConnection: (deviceId: string, connected: boolean, details: ConnectionDetails, live: number) => void
  /** A connection of this node became live or ended (the connected gauge): `live` after it. */
  onLive?: (connected: boolean, transport: string, live: number) => void
}

/** The data of a device.connected / device.disconnected event (Event Grid's field name for the reason). */
export interface ConnectionDetails {
  transport: string
  disconnectionReason?: string
}

export interface BrokerObserver {
  /** A device publish handled, from the hook's entry to its answer (the PUBACK waits for this). */
  handled?: (seconds: number) => void
  /** Messages of a shared subscription dropped: its queue was full, or no member may receive them. */
  sharedDropped?: (share: string, messages: number, reason: 'queue full' | 'no member') => void
  /** A presence record could not be written or read (the store failed); the connection's state is repaired later. */
  presenceError?: (err: unknown, deviceId: string) => void
  /** Tearing down a closed connection (aedes' part or presence's) threw; the other teardowns go on. */
  teardownError?: (err: unknown) => void
  /** Going on with a paced CONNECT (aedes' connect steps) threw; the other connections go on. */
  connectError?: (err: unknown) => void
  /** A refused action, by gridgate error code. */
  refused: (code: 'MQTT_NOT_AUTHORIZED' | 'MQTT_BAD_CREDENTIALS' | 'MQTT_CLIENT_ID_REJECTED' | 'PAYLOAD_TOO_LARGE' | 'MQTT_RETAINED_LIMIT' | 'STORAGE_WRITE_FAILED' | 'STORAGE_UNAVAILABLE', deviceId: string, detail: string) => void
}
