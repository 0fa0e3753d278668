// What the admin CLI prints for people: aligned tables and `key  value` lists. Pure; `--json`
// bypasses all of it and prints the API's answer.

export type Cell = string | number | boolean | null | undefined

/** A value in one cell: nested values as compact JSON, nothing as `-`. */
export function cell (value: unknown): string {
  if (value === undefined || value === null || value === '') return '-'
  if (typeof value === 'string') return value
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  return JSON.stringify(value)
}

/** Columns separated by two spaces; the last one is not padded. */
export function table (headers: readonly string[], rows: ReadonlyArray<readonly Cell[]>): string {
  const text = rows.map((r) => headers.map((_, i) => cell(r[i])))
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => (r[i] as string).length)))
  const line = (cells: readonly string[]): string => cells.map((c, i) => i === cells.length - 1 ? c : c.padEnd(widths[i] as number)).join('  ').trimEnd()
  return [line(headers), ...text.map(line)].join('\n') + '\n'
}

/** `key  value` lines in the object's order; nested objects as compact JSON. */
export function keyValues (object: Record<string, unknown>): string {
  const entries = Object.entries(object)
  const width = Math.max(0, ...entries.map(([k]) => k.length))
  return entries.map(([k, v]) => `${k.padEnd(width)}  ${cell(v)}`).join('\n') + '\n'
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB']

/** 1536 → `1.5 KiB`. */
export function bytes (n: unknown): string {
  if (typeof n !== 'number' || !Number.isFinite(n)) return cell(n)
  let v = n
  let u = 0
  while (v >= 1024 && u < BYTE_UNITS.length - 1) { v /= 1024; u++ }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${BYTE_UNITS[u] as string}`
}

/** Seconds as the largest whole unit (`7d`, `90m`, `45s`); 0 as `none`. */
export function seconds (n: unknown): string {
  if (typeof n !== 'number' || !Number.isFinite(n)) return cell(n)
  if (n === 0) return 'none'
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60]] as const) if (n % size === 0) return `${n / size}${unit}`
  return `${n}s`
}

/** Pretty JSON, the `--json` output of every command but `tail`. */
export function json (value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n'
}
