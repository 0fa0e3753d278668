import { html } from 'htm/preact'
import { useState } from 'preact/hooks'
import type uPlot from 'uplot'
import { Chart } from './chart.js'
import { bytes, LiveBadge, num, useStream, type PageProps } from './ui.js'

// The overview: what GET /stream pushes every second, and the last minutes of the rates.

export interface Overview {
  time: string
  ingest: { eventsPerSecond: number, mqttMessagesPerSecond: number }
  delivery: { eventsPerSecond: number }
  devices: { connected: number, registered: number }
  eventLoopDelayMs: { p50: number, p99: number, max: number }
  storage: { topics: number, events: number, bytes: number }
  topics: Array<{ name: string, events: number, bytes: number, firstOffset: number, nextOffset: number }>
  subscriptions: Array<{ topic: string, name: string, deliveryMode: string, backlog: number, inFlight: number, delivered: number, failed: number, deadLettered: number, lastError: string | null }>
}

const HISTORY = 300 // samples: five minutes

export function OverviewPage ({ api }: PageProps) {
  const [now, setNow] = useState<Overview | undefined>(undefined)
  const [series, setSeries] = useState<uPlot.AlignedData>([[], [], []])
  const live = useStream(api, [], (event, data) => {
    if (event !== 'overview') return
    const o = data as Overview
    setNow(o)
    setSeries((s) => {
      const [x, a, b] = s as [number[], number[], number[]]
      const keep = (arr: number[], v: number): number[] => [...arr.slice(-(HISTORY - 1)), v]
      return [keep(x, Date.parse(o.time) / 1000), keep(a, o.ingest.eventsPerSecond), keep(b, o.delivery.eventsPerSecond)]
    })
  })
  const card = (label: string, value: string, sub: string, id: string) =>
    html`<div class="card" data-stat=${id}><div class="label">${label}</div><div class="value">${value}</div><div class="sub">${sub}</div></div>`
  return html`
    <section>
      <h1>Overview <${LiveBadge} live=${live} /></h1>
      ${now === undefined
        ? html`<p class="muted">Waiting for the first sample…</p>`
        : html`<div class="cards">
            ${card('Ingest', `${num(now.ingest.eventsPerSecond)} /s`, `${num(now.ingest.mqttMessagesPerSecond)} device messages /s`, 'ingest')}
            ${card('Delivery', `${num(now.delivery.eventsPerSecond)} /s`, `${now.subscriptions.length} subscriptions`, 'delivery')}
            ${card('Connected devices', num(now.devices.connected), `of ${num(now.devices.registered)} registered`, 'devices')}
            ${card('Event-loop delay', `${num(now.eventLoopDelayMs.p99)} ms`, `p99; p50 ${num(now.eventLoopDelayMs.p50)} ms, max ${num(now.eventLoopDelayMs.max)} ms`, 'loop')}
            ${card('Storage', bytes(now.storage.bytes), `${num(now.storage.events)} events in ${now.storage.topics} topics`, 'storage')}
          </div>`}
      <h2>Rates</h2>
      <${Chart} data=${series} series=${[{ label: 'ingest /s', stroke: '#2563eb' }, { label: 'delivery /s', stroke: '#16a34a' }]} height=${200} xSpan=${HISTORY} />
      <h2>Topics</h2>
      <table>
        <thead><tr><th>topic</th><th class="n">events</th><th class="n">size</th><th class="n">offsets</th></tr></thead>
        <tbody>${(now?.topics ?? []).map((t) => html`<tr><td><a href=${`#/topics/${encodeURIComponent(t.name)}`}>${t.name}</a></td><td class="n">${num(t.events)}</td><td class="n">${bytes(t.bytes)}</td><td class="n">${t.firstOffset}–${t.nextOffset}</td></tr>`)}</tbody>
      </table>
    </section>`
}
