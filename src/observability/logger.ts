import { pino, type Logger } from 'pino'

export type { Logger }

/** JSON logs on stdout, one line per record. Written synchronously so the last lines survive a crash. */
export function createLogger (level: string, destination: NodeJS.WritableStream | number = 1): Logger {
  const dest = typeof destination === 'number' ? pino.destination({ dest: destination, sync: true }) : destination
  return pino({ level, base: { name: 'gridgate' }, timestamp: pino.stdTimeFunctions.isoTime }, dest)
}
