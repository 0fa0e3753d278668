import { html } from 'htm/preact'
import { useState } from 'preact/hooks'
import type { Overview } from './overview.js'
import { bytes, ErrorLine, Json, LiveBadge, num, useAction, useLoad, useStream, type CloudEvent, type PageProps, type StreamEvents } from './ui.js'

// Topics: the list, a replay browser (from an offset or a time, a filter, pretty JSON) and a
// live tail of new events pushed by GET /stream.

interface Topic { name: string, events: number, bytes: number, firstOffset: number, nextOffset: number, createdAt: string }
interface Record { offset: number, time: string, event: CloudEvent }

const TAIL_KEEP = 100

/** Whether a record matches the filter text: a case-insensitive substring of its JSON. */
const matches = (r: Record, filter: string): boolean => filter === '' || JSON.stringify(r.event).toLowerCase().includes(filter.toLowerCase())

function EventRow ({ r }: { r: Record }) {
  const [open, setOpen] = useState(false)
  return html`<li class="event" data-offset=${r.offset}>
    <button class="link" onClick=${() => setOpen(!open)}>
      <span class="offset">#${r.offset}</span> <span class="type">${r.event.type}</span>
      <span class="muted"> ${r.event.subject ?? r.event.source} · ${new Date(r.time).toLocaleTimeString()}</span>
    </button>
    ${open ? html`<${Json} value=${r.event} />` : null}
  </li>`
}

function Replay ({ api, topic }: { api: PageProps['api'], topic: Topic }) {
  const [from, setFrom] = useState<'offset' | 'time'>('offset')
  const [offset, setOffset] = useState(String(topic.firstOffset))
  const [time, setTime] = useState('')
  const [limit, setLimit] = useState('50')
  const [filter, setFilter] = useState('')
  const [page, setPage] = useState<{ value: Record[], nextOffset: number } | undefined>(undefined)
  const action = useAction()
  const read = (start?: number): void => action.run(async () => {
    const q = start !== undefined ? `fromOffset=${start}` : from === 'offset' ? `fromOffset=${encodeURIComponent(offset)}` : `fromTime=${encodeURIComponent(new Date(time).toISOString())}`
    setPage(await api.get(`/topics/${encodeURIComponent(topic.name)}/events?${q}&limit=${encodeURIComponent(limit)}`))
  })
  const shown = (page?.value ?? []).filter((r) => matches(r, filter))
  return html`<div class="panel">
    <h3>Replay</h3>
    <form class="row" onSubmit=${(e: Event) => { e.preventDefault(); read() }}>
      <select name="from" value=${from} onChange=${(e: Event) => setFrom((e.target as HTMLSelectElement).value as 'offset' | 'time')}>
        <option value="offset">from offset</option><option value="time">from time</option>
      </select>
      ${from === 'offset'
        ? html`<input name="fromOffset" type="number" min="0" value=${offset} onInput=${(e: Event) => setOffset((e.target as HTMLInputElement).value)} />`
        : html`<input name="fromTime" type="datetime-local" step="1" value=${time} onInput=${(e: Event) => setTime((e.target as HTMLInputElement).value)} />`}
      <label>limit <input name="limit" type="number" min="1" max="1000" value=${limit} onInput=${(e: Event) => setLimit((e.target as HTMLInputElement).value)} /></label>
      <input name="filter" placeholder="filter (text in the event)" value=${filter} onInput=${(e: Event) => setFilter((e.target as HTMLInputElement).value)} />
      <button type="submit" disabled=${action.busy}>Replay</button>
    </form>
    <${ErrorLine} error=${action.error} />
    ${page === undefined
      ? null
      : html`<p class="muted">${shown.length} of ${page.value.length} events shown${filter === '' ? '' : ' (filtered)'}; next offset ${page.nextOffset}</p>
        <ul class="events replay">${shown.map((r) => html`<${EventRow} key=${r.offset} r=${r} />`)}</ul>
        ${page.value.length > 0 ? html`<button onClick=${() => read(page.nextOffset)}>Next page</button>` : null}`}
  </div>`
}

function Tail ({ api, topic, onSizes }: { api: PageProps['api'], topic: Topic, onSizes: (topics: Overview['topics']) => void }) {
  const [on, setOn] = useState(true)
  const [records, setRecords] = useState<Record[]>([])
  const [skipped, setSkipped] = useState(0)
  const [filter, setFilter] = useState('')
  const live = useStream(api, [topic.name], (event, data) => {
    if (event === 'overview') onSizes((data as Overview).topics)
    if (event !== 'events') return
    const m = data as StreamEvents
    if (m.topic !== topic.name) return
    if (m.skipped > 0) setSkipped((s) => s + m.skipped)
    setRecords((rs) => [...m.value.slice().reverse(), ...rs].slice(0, TAIL_KEEP))
  }, on)
  const shown = records.filter((r) => matches(r, filter))
  return html`<div class="panel">
    <h3>Live tail ${on ? html`<${LiveBadge} live=${live} />` : null}</h3>
    <div class="row">
      <button onClick=${() => setOn(!on)}>${on ? 'Pause' : 'Follow'}</button>
      <button onClick=${() => { setRecords([]); setSkipped(0) }}>Clear</button>
      <input name="tailFilter" placeholder="filter" value=${filter} onInput=${(e: Event) => setFilter((e.target as HTMLInputElement).value)} />
      ${skipped > 0 ? html`<span class="muted">${num(skipped)} passed over (too fast to show)</span>` : null}
    </div>
    ${shown.length === 0 ? html`<p class="muted">New events of ${topic.name} appear here as they are appended.</p>` : null}
    <ul class="events tail">${shown.map((r) => html`<${EventRow} key=${r.offset} r=${r} />`)}</ul>
  </div>`
}

export function TopicsPage ({ api, path }: PageProps) {
  const selected = path[0]
  const topics = useLoad(async () => (await api.get<{ value: Topic[] }>('/topics')).value, [])
  const [name, setName] = useState('')
  const create = useAction()
  // Sizes as the stream's overview tells them while the tail follows (the list is read once).
  const [sizes, setSizes] = useState<Overview['topics']>([])
  const list = (topics.data ?? []).map((t) => ({ ...t, ...sizes.find((s) => s.name === t.name) }))
  const topic = list.find((t) => t.name === selected)
  return html`<section class="split">
    <aside>
      <h1>Topics</h1>
      <ul class="nav-list">${list.map((t) => html`<li class=${t.name === selected ? 'on' : ''}>
        <a href=${`#/topics/${encodeURIComponent(t.name)}`}>${t.name}</a> <span class="muted">${num(t.events)} · ${bytes(t.bytes)}</span></li>`)}</ul>
      <form class="row" onSubmit=${(e: Event) => {
        e.preventDefault()
        create.run(async () => { await api.send('PUT', `/topics/${encodeURIComponent(name)}`); setName(''); topics.reload() })
      }}>
        <input name="newTopic" placeholder="new topic" value=${name} onInput=${(e: Event) => setName((e.target as HTMLInputElement).value)} />
        <button type="submit" disabled=${create.busy || name === ''}>Create</button>
      </form>
      <${ErrorLine} error=${create.error ?? topics.error} />
    </aside>
    <div class="main">
      ${topic === undefined
        ? html`<p class="muted">${selected === undefined ? 'Choose a topic.' : topics.data === undefined ? 'Loading…' : `No topic '${selected}'.`}</p>`
        : html`<h2>${topic.name}</h2>
          <p class="muted">${num(topic.events)} events, ${bytes(topic.bytes)}, offsets ${topic.firstOffset} to ${topic.nextOffset - 1}, created ${new Date(topic.createdAt).toLocaleString()}</p>
          <${Tail} key=${'tail:' + topic.name} api=${api} topic=${topic} onSizes=${setSizes} />
          <${Replay} key=${'replay:' + topic.name} api=${api} topic=${topic} />`}
    </div>
  </section>`
}
