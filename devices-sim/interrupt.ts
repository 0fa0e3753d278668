// Ctrl-C during a run: the first one stops the publishers and lets the run report what it
// measured; a second one quits at once (exit code 130).

export class Interrupt {
  private fired = false
  private readonly onSigint = (): void => {
    if (this.fired) return
    this.fired = true
    this.onFirst()
    process.once('SIGINT', () => process.exit(130))
  }

  /** Listens for SIGINT from now until `remove()`. */
  constructor (private readonly onFirst: () => void) {
    process.once('SIGINT', this.onSigint)
  }

  get interrupted (): boolean { return this.fired }

  remove (): void {
    process.removeListener('SIGINT', this.onSigint)
  }
}
