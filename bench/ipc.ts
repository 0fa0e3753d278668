import type { Child } from './children.js'
import type { ProbeReply } from './server-probe.js'

/**
 * Calls into a child over its IPC channel: commands to a load generator or device fleet
 * ({ call }), server probes ({ probe }, bench/server-probe.ts) and Nagle toggles ({ nodelay },
 * bench/server-nodelay.ts). Messages with a `stream` field go to the onStream listeners.
 */
export class Ipc<Command extends object, Stream> {
  private next = 1
  private readonly pending = new Map<number, { resolve: (v: unknown) => void, reject: (e: Error) => void }>()
  private readonly listeners = new Set<(m: Stream) => void>()

  constructor (private readonly child: Child) {
    child.proc.on('message', (m: unknown) => {
      const msg = m as { reply?: number, probe?: number, nodelay?: number, ok?: boolean, result?: unknown, error?: string, stream?: string }
      const id = msg.reply ?? msg.probe ?? msg.nodelay
      if (id !== undefined) {
        const p = this.pending.get(id)
        this.pending.delete(id)
        if (msg.reply !== undefined && msg.ok !== true) p?.reject(new Error(`${child.name}: ${msg.error ?? 'failed'}`))
        else p?.resolve(msg.reply !== undefined ? msg.result : msg)
      } else if (msg.stream !== undefined) {
        for (const l of this.listeners) l(msg as Stream)
      }
    })
    child.proc.once('exit', () => {
      for (const p of this.pending.values()) p.reject(new Error(`${child.name} exited (${child.exitStatus() ?? '?'}); its stderr: ${child.stderr()}`))
      this.pending.clear()
    })
  }

  private async send<T> (message: Record<string, unknown>, id: number, timeoutMs: number): Promise<T> {
    const exit = this.child.exitStatus()
    if (exit !== undefined || !this.child.proc.connected) throw new Error(`${this.child.name} exited (${exit ?? 'IPC channel closed'}); its stderr: ${this.child.stderr()}`)
    return await new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new Error(`${this.child.name}: no answer to ${JSON.stringify(message).slice(0, 80)} within ${timeoutMs} ms`))
      }, timeoutMs)
      this.pending.set(id, {
        resolve: (v) => { clearTimeout(timer); resolve(v as T) },
        reject: (e) => { clearTimeout(timer); reject(e) }
      })
      this.child.proc.send(message, (err) => {
        if (err !== null) { this.pending.delete(id); clearTimeout(timer); reject(err) }
      })
    })
  }

  async call<T> (command: Command, timeoutMs = 30_000): Promise<T> {
    const id = this.next++
    return await this.send<T>({ call: id, ...command }, id, timeoutMs)
  }

  /** Memory, event-loop time and GC pauses of a server child; `gc` collects first; `resetLoopDelay` starts a new loop-delay window after the answer. */
  async probe (gc = false, resetLoopDelay = false): Promise<ProbeReply> {
    const id = this.next++
    return await this.send<ProbeReply>({ probe: id, gc, resetLoopDelay }, id, 30_000)
  }

  /** Starts a CPU profile of the server's main thread, or stops it and writes it to `file`. */
  async profile (action: 'start' | 'stop', file?: string): Promise<void> {
    const id = this.next++
    await this.send({ probe: id, profile: action, file }, id, 30_000)
  }

  /** Turns Nagle's algorithm off (true) or back on (false) on the server's accepted MQTT sockets; resolves with their number. */
  async setNoDelay (on: boolean): Promise<number> {
    const id = this.next++
    return (await this.send<{ sockets: number }>({ nodelay: id, on }, id, 30_000)).sockets
  }

  onStream (listener: (m: Stream) => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }
}
