import type { TelemetryConfig } from '../config/schema.js'
import { GridgateError } from '../core/errors.js'
import type { TelemetryStore } from './store.js'
import { parseWindow, renderWindow, sameWindow, type ParsedWindow } from './window-spec.js'

// The continuous windows at start: the stored definitions (PUT /windows/{name}), then the
// config's, which win. A config window that differs from the stored one starts over.
// (Checks across config entries, such as a name defined twice or a source that is not
// configured, are config validation's: config/validate.ts.)

export interface Definition extends ParsedWindow {
  createdAt: string
}

/** A definition as GET shows it may be PUT back: its `name` (if it matches) and `createdAt` are set by the gateway. */
export function withoutEcho (name: string, body: unknown): unknown {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return body
  const { name: given, createdAt: _createdAt, ...rest } = body as Record<string, unknown>
  if (given !== undefined && given !== name) throw new GridgateError('WINDOW_INVALID', `name: '${String(given)}' does not match the window's URL`, { details: { field: 'name' } })
  return rest
}

/** The stored definitions, as they are. */
export async function storedDefinitions (store: TelemetryStore): Promise<Map<string, Definition>> {
  const defs = new Map<string, Definition>()
  for (const { name, stored } of await store.listWindows()) {
    defs.set(name, { ...parseWindow(withoutEcho(name, stored.definition)), createdAt: stored.createdAt })
  }
  return defs
}

export async function loadDefinitions (store: TelemetryStore, configured: TelemetryConfig['windows'], now: string): Promise<Map<string, Definition>> {
  const defs = await storedDefinitions(store)
  // Every config window is checked before any is written.
  const parsed = configured.map(({ name, ...body }, i): [string, ParsedWindow] => {
    try {
      return [name, parseWindow(body)]
    } catch (err) {
      // The window parser is telemetry's; its messages name the field under the config path.
      throw new GridgateError('CONFIG_INVALID', `/telemetry/windows/${i}/${(err as Error).message}`, { cause: err })
    }
  })
  for (const [name, w] of parsed) {
    const old = defs.get(name)
    if (old !== undefined && sameWindow(old.spec, w.spec)) continue
    // State first: were the definition written first, a crash in between would leave the
    // new definition with the old one's operators, and the next start would not notice.
    if (old !== undefined) for (const t of new Set([old.spec.sourceTopic, w.spec.sourceTopic])) await store.clearWindowState(t, name)
    await store.putWindow(name, { definition: renderWindow(name, w.spec), createdAt: now })
    defs.set(name, { ...w, createdAt: now })
  }
  return defs
}
