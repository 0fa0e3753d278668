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
  onConnection: (deviceId: string, connected: boolean, details: { transport?: string, reason?: string }) => void
}

export interface BrokerObserver {
  /** A device publish handled, from the hook's entry to its answer (the PUBACK waits for this). */
  handled?: (seconds: number) => void
  /** A refused action, by gridgate error code. */
  refused: (code: 'MQTT_NOT_AUTHORIZED' | 'MQTT_BAD_CREDENTIALS' | 'PAYLOAD_TOO_LARGE' | 'MQTT_RETAINED_LIMIT' | 'STORAGE_WRITE_FAILED', deviceId: string, detail: string) => void
}
