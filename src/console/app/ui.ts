import { html } from 'htm/preact'
import { useCallback, useEffect, useRef, useState } from 'preact/hooks'
import type { Api } from './api.js'

// What the pages share: loading an API answer, following the live stream, and small views.

export interface PageProps {
  api: Api
  /** The part of the address after the page's name (#/topics/orders → ['orders']). */
  path: string[]
}

export interface Loaded<T> {
  data: T | undefined
  error: Error | undefined
  reload: () => void
}

/** Calls `load` now and whenever `deps` change or `reload` is called. */
export function useLoad<T> (load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data?: T, error?: Error }>({})
  const [n, setN] = useState(0)
  useEffect(() => {
    let live = true
    load().then((data) => { if (live) setState({ data }) }, (error: Error) => { if (live) setState({ error }) })
    return () => { live = false }
  }, [...deps, n])
  return { data: state.data, error: state.error, reload: useCallback(() => setN((x) => x + 1), []) }
}

export type StreamHandler = (event: string, data: unknown) => void

/**
 * Follows GET /stream (the overview every second, and the new events of `topics`) while
 * the component is shown. The server pushes; when the stream breaks it is opened again
 * after a pause, which is the only timer here.
 */
export function useStream (api: Api, topics: readonly string[], onMessage: StreamHandler, enabled = true): boolean {
  const handler = useRef(onMessage)
  handler.current = onMessage
  const [live, setLive] = useState(false)
  const key = topics.join(',')
  useEffect(() => {
    if (!enabled) return
    const abort = new AbortController()
    let retry: ReturnType<typeof setTimeout> | undefined
    let pauseMs = 500
    const open = (): void => {
      api.stream(topics, (event, data) => {
        if (event === 'ready') { setLive(true); pauseMs = 500 }
        handler.current(event, data)
      }, abort.signal).catch(() => undefined).finally(() => {
        setLive(false)
        if (abort.signal.aborted) return
        retry = setTimeout(open, pauseMs)
        pauseMs = Math.min(pauseMs * 2, 10_000)
      })
    }
    open()
    return () => { abort.abort(); clearTimeout(retry) }
  }, [api, key, enabled])
  return live
}

export function Json ({ value }: { value: unknown }) {
  return html`<pre class="json">${JSON.stringify(value, null, 2)}</pre>`
}

export function ErrorLine ({ error }: { error: unknown }) {
  if (error === undefined || error === null) return null
  const e = error as { code?: string, message?: string }
  return html`<p class="error" role="alert">${e.code !== undefined ? html`<b>${e.code}</b> ` : ''}${e.message ?? String(error)}</p>`
}

export function LiveBadge ({ live }: { live: boolean }) {
  return html`<span class=${live ? 'badge live' : 'badge'} data-live=${String(live)}>${live ? 'live' : 'connecting…'}</span>`
}

export function bytes (n: number): string {
  if (n < 1024) return `${n} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let v = n / 1024
  let i = 0
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++ }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i] ?? ''}`
}

export const num = (n: number): string => n.toLocaleString('en-US', { maximumFractionDigits: 1 })

export function ago (iso: string | null | undefined): string {
  if (iso === null || iso === undefined) return '—'
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000)
  if (s < 60) return `${Math.max(0, s)} s ago`
  if (s < 3600) return `${Math.round(s / 60)} min ago`
  return new Date(iso).toLocaleString()
}

/** Parses a JSON text field; throws a readable error. */
export function parseJson (text: string, what: string): unknown {
  if (text.trim() === '') return undefined
  try { return JSON.parse(text) } catch (e) { throw new Error(`${what} is not valid JSON: ${(e as Error).message}`) }
}

/** Runs an action from a button, keeping its error for display. */
export function useAction (): { busy: boolean, error: unknown, run: (fn: () => Promise<void>) => void, clear: () => void } {
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(undefined)
  const run = (fn: () => Promise<void>): void => {
    setBusy(true)
    setError(undefined)
    fn().catch((e: unknown) => setError(e)).finally(() => setBusy(false))
  }
  return { busy, error, run, clear: () => setError(undefined) }
}

export interface StreamEvents {
  topic: string
  value: Array<{ offset: number, time: string, event: CloudEvent }>
  nextOffset: number
  skipped: number
}

export interface CloudEvent {
  id: string
  type: string
  source: string
  subject?: string
  time?: string
  deviceid?: string
  data?: unknown
  [k: string]: unknown
}
