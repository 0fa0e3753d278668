import { isEnd, nextDeadline, type Command, type CommandStatus } from './lifecycle.js'

// What the commands module keeps in storage: each command, its place in its device's
// listing, and the counter that orders them. An engine implements this port (src/storage/);
// test/commands/command-store.contract.ts is the suite it must pass. No engine type or key
// layout appears here.

/**
 * The stored commands, possibly shared by several gateway processes (a shared engine such as
 * Redis). An implementation must guarantee:
 * - `nextSeq` is the store's counter, not an instance's: each number it gives out is unique
 *   among every instance sharing the store and greater than every number given out before
 *   it was called (on a shared engine an atomic increment in the engine). After a restart
 *   it is still greater than the seq of every command added. Gaps are fine: a number given
 *   out and never added is just skipped.
 * - `add` writes the command and its place in its device's listing atomically: once it
 *   resolves, `get`, `list` and `loadOpen` (of every instance) see it; when it rejects,
 *   none of them does. It resolves only once the write is as durable as the engine is.
 * - `update` replaces a command that was added, whole; its seq, and so its place in the
 *   listing, never changes. Writes to one command from one instance apply in call order.
 * - With an `event`, `add` and `update` append it (the transition's CloudEvent) to the
 *   namespace topic `event.topic` in the SAME atomic write as the state: a state change is
 *   never stored without its event, nor an event without its state, and one durable write
 *   (one fsync) covers both.
 * - Commands are read and written whole, as copies: changing an object passed in or
 *   returned changes nothing stored.
 */
/** A serialised CloudEvent and the namespace topic it is appended to. */
export interface TransitionEvent {
  topic: string
  bytes: Buffer
}

export interface CommandStore {
  /** The seq for a new command: creation order, for sending in order and for listing. */
  nextSeq: () => Promise<number>
  /** Stores a new command (its seq from `nextSeq`), with its transition event if given. */
  add: (c: Command, event?: TransitionEvent) => Promise<void>
  /** Stores the new state of a command that was added, with its transition event if given. */
  update: (c: Command, event?: TransitionEvent) => Promise<void>
  get: (deviceId: string, id: string) => Promise<Command | undefined>
  /**
   * A device's commands newest (highest seq) first: with `status`, only those in it now;
   * with `beforeSeq`, only seqs below it; at most `limit`. `next` is set when more match:
   * it is the `beforeSeq` of the next page, so paging gives each command once.
   */
  list: (deviceId: string, opts: { status?: CommandStatus, limit: number, beforeSeq?: number }) => Promise<{ commands: Command[], next?: number }>
  /** Every command not in an end state, of every device, in seq order (loaded at start to re-arm timers and resend). */
  loadOpen: () => Promise<Command[]>
}

/**
 * What commands need of a store shared by several gateway processes (the nodes of a cluster)
 * besides CommandStore, where no process's memory can decide a command's next state. The
 * engine's CommandStore writes keep what these read in step with each command's state (in the
 * same atomic write). An implementation must guarantee:
 * - `locked` runs `step` while no other caller, in any process, runs a step of the same
 *   command: a read-transition-write inside it is atomic. A holder that dies releases it
 *   after `leaseMs` (so a step must end well within it).
 * - `openOf` is the device's commands not in an end state, in seq order, as stored now.
 * - `due` is the commands not in an end state whose next deadline (lifecycle.ts nextDeadline)
 *   is at or before `now`, earliest first, at most `limit`.
 */
export interface SharedCommandStore {
  readonly leaseMs: number
  locked: <T>(deviceId: string, id: string, step: () => Promise<T>) => Promise<T>
  openOf: (deviceId: string) => Promise<Command[]>
  due: (now: number, limit: number) => Promise<Array<{ deviceId: string, id: string }>>
}

/**
 * SharedCommandStore over any CommandStore, for gateways in ONE process (a reference for
 * tests of shared-commands.ts on a manual clock): locks are in-process, open sets and
 * deadlines are read from `loadOpen` (a full read each time).
 */
export function createInProcessSharedCommands (store: CommandStore): SharedCommandStore {
  const chains = new Map<string, Promise<unknown>>()
  return {
    leaseMs: Number.POSITIVE_INFINITY,
    async locked (deviceId, id, step) {
      const key = `${deviceId}!${id}`
      const run = (chains.get(key) ?? Promise.resolve()).catch(() => undefined).then(step)
      chains.set(key, run)
      void run.catch(() => undefined).then(() => { if (chains.get(key) === run) chains.delete(key) })
      return await run
    },
    openOf: async (deviceId) => (await store.loadOpen()).filter((c) => c.deviceId === deviceId),
    async due (now, limit) {
      return (await store.loadOpen())
        .flatMap((c) => {
          const d = isEnd(c.status) ? undefined : nextDeadline(c)
          return d !== undefined && d.at <= now ? [{ at: d.at, deviceId: c.deviceId, id: c.id }] : []
        })
        .sort((a, b) => a.at - b.at)
        .slice(0, limit)
        .map(({ deviceId, id }) => ({ deviceId, id }))
    }
  }
}
