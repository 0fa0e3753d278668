import { html } from 'htm/preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import type uPlot from 'uplot'
import { Chart } from './chart.js'
import { ErrorLine, Json, LiveBadge, parseJson, useAction, useLoad, useStream, type PageProps, type StreamEvents } from './ui.js'

// Telemetry: a device's metric as a windowed series (GET /telemetry/{device}/{metric}) drawn
// with uPlot, asked again when that device's telemetry arrives (pushed by GET /stream, at most
// once a second, and a few times after the last reading) and every second until the metric
// has a value; and the continuous windows (GET/PUT/DELETE /windows).

interface Device { id: string }
interface Metric { metric: string, lastValue: number, lastTime: string }
interface Point { start: string, end: string, count: number, [agg: string]: number | string | null }
interface Window { name: string, window: Record<string, unknown>, metrics?: string[], aggregates?: string[], outputTopic?: string, sourceTopic?: string }

const RANGES: Record<string, number> = { '5 min': 300, '15 min': 900, '1 hour': 3600, '6 hours': 21_600, '1 day': 86_400 }
const AGGS = ['avg', 'min', 'max']
const COLOURS: Record<string, string> = { avg: '#2563eb', min: '#16a34a', max: '#dc2626' }
const UNITS: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86_400 }
/** `90`, `90s`, `5m`, `1h`, `1d` in seconds (0 when it does not parse; the API names the problem). */
const seconds = (text: string): number => {
  const m = /^(\d{1,16})([smhd]?)$/.exec(text.trim())
  return m === null ? 0 : Number(m[1]) * (UNITS[m[2] ?? ''] ?? 1)
}
/** When to ask again after the last reading the stream showed (ms after it, then after each other). */
const TRAILING_ASKS_MS = [1500, 2500, 6000]
const WINDOW_TEMPLATE = { window: { kind: 'tumbling', sizeSeconds: 60 }, metrics: [], aggregates: ['count', 'min', 'max', 'avg'] }

function Windows ({ api }: { api: PageProps['api'] }) {
  const windows = useLoad(async () => (await api.get<{ value: Window[] }>('/windows')).value, [])
  const [name, setName] = useState('')
  const [text, setText] = useState(JSON.stringify(WINDOW_TEMPLATE, null, 2))
  const act = useAction()
  return html`<div class="panel">
    <h3>Continuous windows</h3>
    <table>
      <thead><tr><th>name</th><th>window</th><th>metrics</th><th>aggregates</th><th>output</th><th></th></tr></thead>
      <tbody>${(windows.data ?? []).map((w) => html`<tr data-window=${w.name}>
        <td>${w.name}</td><td><code>${JSON.stringify(w.window)}</code></td><td>${(w.metrics ?? []).join(', ') || 'all'}</td><td>${(w.aggregates ?? []).join(', ')}</td>
        <td><a href=${`#/topics/${encodeURIComponent(w.outputTopic ?? 'telemetry-windows')}`}>${w.outputTopic ?? 'telemetry-windows'}</a></td>
        <td><button onClick=${() => { setName(w.name); setText(JSON.stringify({ window: w.window, metrics: w.metrics, aggregates: w.aggregates, outputTopic: w.outputTopic, sourceTopic: w.sourceTopic }, null, 2)) }}>Edit</button>
        <button class="danger" onClick=${() => act.run(async () => { await api.send('DELETE', `/windows/${encodeURIComponent(w.name)}`); windows.reload() })}>Delete</button></td></tr>`)}</tbody>
    </table>
    <form class="editor" onSubmit=${(e: Event) => {
      e.preventDefault()
      act.run(async () => { await api.send('PUT', `/windows/${encodeURIComponent(name)}`, parseJson(text, 'The definition')); windows.reload() })
    }}>
      <input name="windowName" placeholder="window name" value=${name} onInput=${(e: Event) => setName((e.target as HTMLInputElement).value)} />
      <textarea name="windowDefinition" rows="6" spellcheck="false" value=${text} onInput=${(e: Event) => setText((e.target as HTMLTextAreaElement).value)}></textarea>
      <div class="row"><button type="submit" disabled=${act.busy || name === ''}>Save window</button></div>
    </form>
    <${ErrorLine} error=${act.error ?? windows.error} />
  </div>`
}

export function TelemetryPage ({ api, path }: PageProps) {
  const devices = useLoad(async () => (await api.get<{ value: Device[] }>('/devices')).value, [])
  const device = path[0] ?? devices.data?.[0]?.id
  const metrics = useLoad(async () => device === undefined ? [] : (await api.get<{ value: Metric[] }>(`/telemetry/${encodeURIComponent(device)}`)).value, [device])
  const metric = path[1] ?? metrics.data?.[0]?.metric
  const [kind, setKind] = useState('tumbling')
  const [size, setSize] = useState('10s')
  const [hop, setHop] = useState('5s')
  const [gap, setGap] = useState('30s')
  const [range, setRange] = useState('5 min')
  const [follow, setFollow] = useState(true)
  const [data, setData] = useState<uPlot.AlignedData>([[], [], [], []])
  const [xRange, setXRange] = useState<[number, number] | undefined>(undefined)
  const [points, setPoints] = useState(0)
  const [error, setError] = useState<unknown>(undefined)
  const [asked, setAsked] = useState(0)
  const lastAsk = useRef(0)
  const pending = useRef<ReturnType<typeof setTimeout> | undefined>(undefined)
  const trailing = useRef<ReturnType<typeof setTimeout> | undefined>(undefined)

  useEffect(() => {
    if (device === undefined || metric === undefined) return
    let live = true
    // A window is in the answer when its end is in (from, to]: reach one window past now so
    // the newest, still open window is drawn too.
    const now = Date.now()
    const ahead = kind === 'sliding' ? 1000 : seconds(kind === 'session' ? gap : size) * 1000
    const q = new URLSearchParams({ from: String(now - (RANGES[range] ?? 900) * 1000), to: String(now + ahead), window: kind, agg: AGGS.join(',') })
    if (kind === 'session') q.set('gap', gap)
    else q.set('size', size)
    if (kind === 'hopping') q.set('hop', hop)
    api.get<{ series: Point[] }>(`/telemetry/${encodeURIComponent(device)}/${encodeURIComponent(metric)}?${q.toString()}`).then(({ series }) => {
      if (!live) return
      setError(undefined)
      setPoints(series.length)
      setXRange([Number(q.get('from')) / 1000, Number(q.get('to')) / 1000])
      setData([series.map((p) => Date.parse(p.end) / 1000), ...AGGS.map((a) => series.map((p) => p[a] as number | null))] as uPlot.AlignedData)
    }, (e: unknown) => { if (live) setError(e) })
    return () => { live = false }
  }, [device, metric, kind, size, hop, gap, range, asked])

  // New telemetry of this device: ask again, at most once a second.
  const streaming = useStream(api, ['telemetry'], (event, msg) => {
    if (event !== 'events' || !(msg as StreamEvents).value.some((r) => r.event.deviceid === device)) return
    const ask = (): void => { lastAsk.current = Date.now(); setAsked((n) => n + 1); metrics.reload() }
    // A few more times after the last reading: the rollups take it in a little after its
    // append, later when the telemetry worker lags behind a busy ingest.
    clearTimeout(trailing.current)
    const after = (delays: readonly number[]): void => {
      const [first, ...rest] = delays
      if (first !== undefined) trailing.current = setTimeout(() => { ask(); after(rest) }, first)
    }
    after(TRAILING_ASKS_MS)
    if (pending.current !== undefined) return
    const wait = Math.max(0, lastAsk.current + 1000 - Date.now())
    pending.current = setTimeout(() => { pending.current = undefined; ask() }, wait)
  }, follow && device !== undefined)
  useEffect(() => () => { clearTimeout(pending.current); clearTimeout(trailing.current) }, [])
  // Until the metric has a value, ask again every second: readings that came before the stream
  // opened are not in it, and the rollups take a reading in a little after its append, so the
  // first answer can miss what was just sent.
  const hasValue = metric !== undefined && metrics.data?.some((m) => m.metric === metric) === true
  useEffect(() => {
    if (hasValue || device === undefined) return
    const timer = setInterval(() => { metrics.reload(); setAsked((n) => n + 1) }, 1000)
    return () => { clearInterval(timer) }
  }, [hasValue, device, metric])

  const go = (d: string | undefined, m?: string): void => { location.hash = `#/telemetry/${encodeURIComponent(d ?? '')}${m === undefined ? '' : '/' + encodeURIComponent(m)}` }
  const input = (name: string, value: string, set: (v: string) => void) => html`<label>${name} <input name=${name} size="5" value=${value} onChange=${(e: Event) => set((e.target as HTMLInputElement).value)} /></label>`
  return html`<section>
    <h1>Telemetry ${follow ? html`<${LiveBadge} live=${streaming} />` : null}</h1>
    <div class="row">
      <label>device <select name="device" value=${device ?? ''} onChange=${(e: Event) => go((e.target as HTMLSelectElement).value)}>
        ${(devices.data ?? []).map((d) => html`<option value=${d.id}>${d.id}</option>`)}</select></label>
      <label>metric <select name="metric" value=${metric ?? ''} onChange=${(e: Event) => go(device, (e.target as HTMLSelectElement).value)}>
        ${(metrics.data ?? []).map((m) => html`<option value=${m.metric}>${m.metric}</option>`)}</select></label>
      <label>window <select name="window" value=${kind} onChange=${(e: Event) => setKind((e.target as HTMLSelectElement).value)}>
        ${['tumbling', 'hopping', 'sliding', 'session'].map((k) => html`<option value=${k}>${k}</option>`)}</select></label>
      ${kind === 'session' ? input('gap', gap, setGap) : input('size', size, setSize)}
      ${kind === 'hopping' ? input('hop', hop, setHop) : null}
      <label>last <select name="range" value=${range} onChange=${(e: Event) => setRange((e.target as HTMLSelectElement).value)}>
        ${Object.keys(RANGES).map((r) => html`<option value=${r}>${r}</option>`)}</select></label>
      <label><input type="checkbox" name="follow" checked=${follow} onChange=${(e: Event) => setFollow((e.target as HTMLInputElement).checked)} /> follow</label>
    </div>
    <${ErrorLine} error=${error ?? devices.error ?? metrics.error} />
    ${metric === undefined
      ? html`<p class="muted">${device === undefined ? 'No devices yet.' : 'No telemetry from this device yet.'}</p>`
      : html`<p class="muted" data-points=${points}>${device} · ${metric}: ${points} windows${metrics.data?.find((m) => m.metric === metric) !== undefined ? html`, last value <b class="last-value">${metrics.data.find((m) => m.metric === metric)?.lastValue}</b>` : null}</p>
        <${Chart} data=${data} xRange=${xRange} series=${AGGS.map((a) => ({ label: a, stroke: COLOURS[a] ?? '#000' }))} />`}
    <${Windows} api=${api} />
    ${metrics.data !== undefined && metrics.data.length > 0 ? html`<details><summary>Metrics of ${device}</summary><${Json} value=${metrics.data} /></details>` : null}
  </section>`
}
