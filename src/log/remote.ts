import type { Clock } from '../core/clock.js'
import { GridgateError } from '../core/errors.js'
import { createRpc, transferring, type RpcPort } from '../core/port-rpc.js'
import type { AppendResult, DedupeKeys, LogRecord, ReadFrom, ReadResult, TopicInfo, TopicLog } from './types.js'

// A TopicLog over a message port, for a worker thread: `serveTopicLog` runs where the log
// is (the main thread, whose group commit assigns the offsets) and `remoteTopicLog` is the
// TopicLog the worker uses. Engine-neutral: it forwards the port's calls to whatever TopicLog
// it serves, so the remote log keeps that log's semantics across instances (test:
// test/log/remote.test.ts runs the TopicLog contract through a MessageChannel).
//
// Event bytes cross packed: the records of a read (or the events of an append) are copied
// into one ArrayBuffer that is transferred, not cloned. Structured clone of a Buffer copies
// its whole backing ArrayBuffer, and a record's bytes are a view into a segment or into
// Node's 8 KiB pool, so cloning them one by one would copy far more than the events.
// Append notices are gathered (ServeOptions.noticeIntervalMs). `waitForAppend` waits on the
// notices with the remote side's own clock: it listens first and then asks where the topic
// stands, so an append is seen either in that answer or as a notice, never lost between.

/** Closable ports (MessagePort) are closed with the log or server that owns them. */
export type LogPort = RpcPort & { close?: () => void, once?: (event: 'close', listener: () => void) => unknown }

// Numbers cross as typed arrays, transferred with the bytes: cloning plain arrays of
// thousands of numbers cost the serving (ingest) thread more than copying the events.
interface Packed {
  data: ArrayBuffer
  lengths: Uint32Array<ArrayBuffer>
}

function pack (bufs: readonly Uint8Array[]): Packed {
  let total = 0
  for (const b of bufs) total += b.length
  const data = new ArrayBuffer(total)
  const view = new Uint8Array(data)
  const lengths = new Uint32Array(bufs.length)
  let at = 0
  for (let i = 0; i < bufs.length; i++) {
    const b = bufs[i] as Uint8Array
    view.set(b, at)
    at += b.length
    lengths[i] = b.length
  }
  return { data, lengths }
}

function unpack (p: Packed): Buffer[] {
  const out: Buffer[] = []
  let at = 0
  for (const n of p.lengths) {
    out.push(Buffer.from(p.data, at, n))
    at += n
  }
  return out
}

interface PackedRead extends Packed {
  offsets: Float64Array<ArrayBuffer>
  times: Float64Array<ArrayBuffer>
  nextOffset: number
}

export interface TopicLogServer {
  /** Stops serving: the remote side's calls fail from now on, its append listener goes. */
  close: () => void
}

export interface ServeOptions {
  /**
   * Append notices are gathered and sent at most this often (per topic, the newest next
   * offset), so a busy topic costs one message per interval instead of one per group commit;
   * 0 sends them at the end of the event-loop turn. A notice only says "the topic grew", so
   * gathering them loses nothing (TopicLog's contract).
   */
  noticeIntervalMs?: number
}

/** Serves `log` to the remoteTopicLog at the other end of `port`. The log stays open. */
export function serveTopicLog (log: TopicLog, port: LogPort, opts: ServeOptions = {}): TopicLogServer {
  let unlisten: (() => void) | undefined
  let closed = false
  const grown = new Map<string, number>()
  let cancelFlush: (() => void) | undefined
  const flush = (): void => {
    cancelFlush = undefined
    if (closed || grown.size === 0) return
    rpc.notify('append', [...grown])
    grown.clear()
  }
  const heard = (topic: string, next: number): void => {
    grown.set(topic, Math.max(next, grown.get(topic) ?? 0))
    if (cancelFlush !== undefined) return
    const ms = opts.noticeIntervalMs ?? 0
    if (ms > 0) {
      const t = setTimeout(flush, ms).unref()
      cancelFlush = () => clearTimeout(t)
    } else {
      const i = setImmediate(flush)
      cancelFlush = () => clearImmediate(i)
    }
  }
  const rpc = createRpc(port, {
    handlers: {
      createTopic: async (name: string, retention?: Parameters<TopicLog['createTopic']>[1], deduplication?: Parameters<TopicLog['createTopic']>[2]) => await log.createTopic(name, retention, deduplication),
      deleteTopic: async (name: string) => await log.deleteTopic(name),
      getTopic: async (name: string) => await log.getTopic(name),
      listTopics: async () => await log.listTopics(),
      // The packed events go last: only a call's last argument is transferred (core/port-rpc.ts).
      append: async (topic: string, keys: DedupeKeys | undefined, events: Packed) => await log.append(topic, unpack(events), keys),
      read: async (topic: string, from: ReadFrom, limit: number) => {
        const { records, nextOffset } = await log.read(topic, from, limit)
        const packed = pack(records.map((r) => r.bytes))
        const offsets = new Float64Array(records.length)
        const times = new Float64Array(records.length)
        for (let i = 0; i < records.length; i++) {
          const r = records[i] as LogRecord
          offsets[i] = r.offset
          times[i] = r.time
        }
        const value: PackedRead = { ...packed, offsets, times, nextOffset }
        return transferring(value, [packed.data, packed.lengths.buffer, offsets.buffer, times.buffer])
      },
      enforceRetention: async () => await log.enforceRetention(),
      listen: (on: boolean) => {
        if (on && unlisten === undefined) unlisten = log.onAppend(heard)
        if (!on) { unlisten?.(); unlisten = undefined }
      }
    }
  })
  const close = (): void => {
    if (closed) return
    closed = true
    cancelFlush?.()
    unlisten?.()
    unlisten = undefined
    rpc.close()
    port.close?.()
  }
  // The other side went away (a worker ended): nothing more to serve.
  port.once?.('close', close)
  return { close }
}

/** The TopicLog served at the other end of `port`; `clock` times waitForAppend. Closing it closes the port. */
export function remoteTopicLog (port: LogPort, clock: Clock): TopicLog {
  const listeners = new Set<(topic: string, nextOffset: number) => void>()
  const inFlight = new Set<Promise<unknown>>()
  let closed = false
  const rpc = createRpc(port, {
    onNotice: (kind, value) => {
      if (kind !== 'append') return
      for (const [topic, next] of value as Array<[string, number]>) {
        for (const l of [...listeners]) l(topic, next)
      }
    }
  })

  // The serving side went away: calls waiting and later ones fail with SHUTTING_DOWN.
  port.once?.('close', () => rpc.close())

  const onAppend: TopicLog['onAppend'] = (listener) => {
    // Posted at once (call() posts synchronously): it is on the port before any later call.
    if (listeners.size === 0 && !closed) void rpc.call('listen', true).catch(() => {})
    listeners.add(listener)
    return () => {
      if (!listeners.delete(listener) || listeners.size > 0 || closed) return
      void rpc.call('listen', false).catch(() => {})
    }
  }
  const getTopic: TopicLog['getTopic'] = async (name) => await rpc.call<TopicInfo | undefined>('getTopic', name)

  return {
    createTopic: async (name, retention, deduplication) => await rpc.call<{ topic: TopicInfo, created: boolean }>('createTopic', name, retention, deduplication),
    deleteTopic: async (name) => await rpc.call<boolean>('deleteTopic', name),
    getTopic,
    listTopics: async () => await rpc.call<TopicInfo[]>('listTopics'),
    append: async (topic, events, keys) => {
      if (closed) throw new GridgateError('SHUTTING_DOWN')
      const packed = pack(events)
      const p = rpc.call<AppendResult>('append', topic, keys, transferring(packed, [packed.data, packed.lengths.buffer]))
      inFlight.add(p)
      try { return await p } finally { inFlight.delete(p) }
    },
    read: async (topic, from, limit): Promise<ReadResult> => {
      const r = await rpc.call<PackedRead>('read', topic, from, limit)
      const bytes = unpack(r)
      const records: LogRecord[] = bytes.map((b, i) => ({ offset: r.offsets[i] as number, time: r.times[i] as number, bytes: b }))
      return { records, nextOffset: r.nextOffset }
    },
    waitForAppend: async (topic, afterOffset, timeoutMs) => await new Promise<boolean>((resolve, reject) => {
      let done = false
      const finish = (err: unknown, v: boolean): void => {
        if (done) return
        done = true
        stop()
        timer.cancel()
        if (err === undefined) resolve(v)
        else reject(err instanceof Error ? err : new Error(String(err)))
      }
      const timer = clock.setTimer(timeoutMs, () => finish(undefined, false))
      const stop = onAppend((t, next) => { if (t === topic && next > afterOffset) finish(undefined, true) })
      getTopic(topic).then((info) => {
        if (info === undefined) finish(new GridgateError('TOPIC_NOT_FOUND', `topic '${topic}' does not exist`, { details: { topic } }), false)
        else if (info.nextOffset > afterOffset) finish(undefined, true)
      }, (err: unknown) => finish(err, false))
    }),
    onAppend,
    enforceRetention: async () => await rpc.call<number>('enforceRetention'),
    close: async () => {
      if (closed) return
      closed = true
      await Promise.allSettled([...inFlight])
      listeners.clear()
      rpc.close()
      port.close?.()
    }
  }
}
