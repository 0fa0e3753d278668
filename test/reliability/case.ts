// The reliability suite's shape: each case attacks a real gateway (a child process with
// real sockets and LevelDB) and reports one row: what was done, the pass criterion, the
// figure measured, pass or fail. `npm test` runs every case at size 'ci' (small, bounded);
// `npm run soak` runs them at size 'soak' and prints the table (test/reliability/soak.ts).

export type Size = 'ci' | 'soak'

export interface CaseResult {
  /** The figure measured, with its unit ("0 of 1,204 PUBACKed messages missing; ready in 0.8 s"). */
  figure: string
  pass: boolean
}

export interface ReliabilityCase {
  /** Short and stable: "kill -9 during QoS 1 ingest". */
  name: string
  /** What was done, at this size. */
  action: (size: Size) => string
  /** What must hold. */
  criterion: string
  run: (size: Size) => Promise<CaseResult>
  /** It compares rates measured one after the other, so `npm test` runs it with no other test
   * file beside it (test/reliability/alone.test.ts, the `alone` project). */
  alone?: true
}
