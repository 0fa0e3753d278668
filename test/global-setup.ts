import { buildDist } from './helpers/build.js'

// Before any flow starts: the compiled gateway and simulator that child processes run.
export default async function setup (): Promise<void> {
  await buildDist()
}
