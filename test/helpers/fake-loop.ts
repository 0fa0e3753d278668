// A fake event loop for pacing logic: `later` callbacks wait for turn(), and a fake clock
// moves only when a test spends time.
export function fakeLoop () {
  let t = 0
  let pending: Array<() => void> = []
  return {
    now: () => t,
    spend: (ms: number) => { t += ms },
    later: (fn: () => void) => { pending.push(fn) },
    /** Runs the callbacks due in the next turn; returns how many there were. */
    turn: () => {
      const due = pending
      pending = []
      for (const fn of due) fn()
      return due.length
    },
    get scheduled () { return pending.length }
  }
}
