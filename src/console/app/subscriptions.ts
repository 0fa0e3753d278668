import { html } from 'htm/preact'
import { useEffect, useState } from 'preact/hooks'
import type { Overview } from './overview.js'
import { ErrorLine, Json, LiveBadge, num, parseJson, useAction, useLoad, useStream, type PageProps } from './ui.js'

// Event subscriptions of a topic: live status (backlog, in flight, delivered, dead letters,
// from the overview GET /stream pushes), the dead letters with redeliver, create and edit.

interface Topic { name: string }
interface Subscription { name: string, topic: string, properties: Record<string, unknown> }
type Status = Overview['subscriptions'][number]
interface DeadLetter { offset: number, event: { id: string, type: string }, deadLetterReason: string, deliveryAttempts: number, lastError: string | null, deadLetteredAt: string }

const TEMPLATE = {
  properties: {
    deliveryConfiguration: { deliveryMode: 'Queue', queue: { receiveLockDurationInSeconds: 60, maxDeliveryCount: 10, eventTimeToLive: 'P1D' } },
    filtersConfiguration: { includedEventTypes: [] }
  }
}

/** The definition as GET shows it, less what the gateway sets (a PUT does not take createdAt). */
function editable (properties: Record<string, unknown>): unknown {
  const { createdAt: _c, provisioningState: _p, startOffset: _s, ...rest } = properties
  return { properties: rest }
}

const subPath = (topic: string, name: string): string => `/topics/${encodeURIComponent(topic)}/eventsubscriptions/${encodeURIComponent(name)}`

function Editor ({ api, topic, name, initial, onSaved }: { api: PageProps['api'], topic: string, name?: string, initial: unknown, onSaved: (name: string) => void }) {
  const [newName, setNewName] = useState('')
  const [text, setText] = useState(JSON.stringify(initial, null, 2))
  const save = useAction()
  useEffect(() => setText(JSON.stringify(initial, null, 2)), [name])
  const target = name ?? newName
  return html`<form class="panel editor" onSubmit=${(e: Event) => {
    e.preventDefault()
    save.run(async () => { await api.send('PUT', subPath(topic, target), parseJson(text, 'The definition')); onSaved(target) })
  }}>
    <h3>${name === undefined ? 'New subscription' : `Edit ${name}`}</h3>
    ${name === undefined ? html`<input name="subscriptionName" placeholder="name" value=${newName} onInput=${(e: Event) => setNewName((e.target as HTMLInputElement).value)} />` : null}
    <textarea name="definition" rows="12" spellcheck="false" value=${text} onInput=${(e: Event) => setText((e.target as HTMLTextAreaElement).value)}></textarea>
    <div class="row"><button type="submit" disabled=${save.busy || target === ''}>${name === undefined ? 'Create' : 'Save'}</button></div>
    <${ErrorLine} error=${save.error} />
  </form>`
}

function Details ({ api, topic, name, status, onDeleted }: { api: PageProps['api'], topic: string, name: string, status: Status | undefined, onDeleted: () => void }) {
  const sub = useLoad(async () => await api.get<Subscription>(subPath(topic, name)), [topic, name])
  const dead = useLoad(async () => (await api.get<{ value: DeadLetter[] }>(`${subPath(topic, name)}/deadletters?limit=100`)).value, [topic, name, status?.deadLettered])
  const act = useAction()
  const [confirm, setConfirm] = useState(false)
  const redeliver = (offsets?: number[]): void => act.run(async () => {
    await api.send('POST', `${subPath(topic, name)}/deadletters:redeliver`, offsets === undefined ? {} : { offsets })
    dead.reload()
  })
  const s = status
  return html`<div>
    <h2>${topic} / ${name}</h2>
    ${s === undefined
      ? null
      : html`<div class="cards small" data-subscription=${name}>
        <div class="card" data-stat="backlog"><div class="label">backlog</div><div class="value">${num(s.backlog)}</div></div>
        <div class="card" data-stat="inFlight"><div class="label">in flight</div><div class="value">${num(s.inFlight)}</div></div>
        <div class="card" data-stat="delivered"><div class="label">delivered</div><div class="value">${num(s.delivered)}</div></div>
        <div class="card" data-stat="failed"><div class="label">failed</div><div class="value">${num(s.failed)}</div></div>
        <div class="card" data-stat="deadLettered"><div class="label">dead letters</div><div class="value">${num(s.deadLettered)}</div></div>
      </div>
      ${s.lastError !== null ? html`<p class="muted">last error: ${s.lastError}</p>` : null}`}
    <div class="panel">
      <h3>Dead letters</h3>
      ${(dead.data ?? []).length === 0
        ? html`<p class="muted">None.</p>`
        : html`<button onClick=${() => redeliver()} disabled=${act.busy}>Redeliver all</button>
          <table class="deadletters">
            <thead><tr><th>offset</th><th>event</th><th>reason</th><th class="n">attempts</th><th>when</th><th></th></tr></thead>
            <tbody>${(dead.data ?? []).map((d) => html`<tr data-offset=${d.offset}>
              <td>${d.offset}</td><td>${d.event.type} <span class="muted">${d.event.id}</span></td><td>${d.deadLetterReason}${d.lastError !== null ? html`<br /><span class="muted">${d.lastError}</span>` : null}</td>
              <td class="n">${d.deliveryAttempts}</td><td>${new Date(d.deadLetteredAt).toLocaleTimeString()}</td>
              <td><button onClick=${() => redeliver([d.offset])} disabled=${act.busy}>Redeliver</button></td></tr>`)}</tbody>
          </table>`}
      <${ErrorLine} error=${act.error ?? dead.error} />
    </div>
    ${sub.data === undefined ? html`<${ErrorLine} error=${sub.error} />` : html`<${Editor} api=${api} topic=${topic} name=${name} initial=${editable(sub.data.properties)} onSaved=${() => sub.reload()} />`}
    <div class="row">
      ${confirm
        ? html`<button class="danger" onClick=${() => act.run(async () => { await api.send('DELETE', subPath(topic, name)); onDeleted() })}>Delete ${name} for good</button>
          <button onClick=${() => setConfirm(false)}>Keep it</button>`
        : html`<button class="danger" onClick=${() => setConfirm(true)}>Delete…</button>`}
    </div>
    ${sub.data !== undefined ? html`<details><summary>As the API shows it</summary><${Json} value=${sub.data} /></details>` : null}
  </div>`
}

export function SubscriptionsPage ({ api, path }: PageProps) {
  const topics = useLoad(async () => (await api.get<{ value: Topic[] }>('/topics')).value, [])
  const topic = path[0] ?? topics.data?.[0]?.name
  const selected = path[1]
  const subs = useLoad(async () => topic === undefined ? [] : (await api.get<{ value: Subscription[] }>(`/topics/${encodeURIComponent(topic)}/eventsubscriptions`)).value, [topic])
  const [statuses, setStatuses] = useState<Status[]>([])
  const live = useStream(api, [], (event, data) => { if (event === 'overview') setStatuses((data as Overview).subscriptions) })
  const statusOf = (name: string): Status | undefined => statuses.find((s) => s.topic === topic && s.name === name)
  const go = (t: string, s?: string): void => { location.hash = `#/subscriptions/${encodeURIComponent(t)}${s === undefined ? '' : '/' + encodeURIComponent(s)}` }
  return html`<section class="split">
    <aside>
      <h1>Subscriptions <${LiveBadge} live=${live} /></h1>
      <label>topic <select name="topic" value=${topic ?? ''} onChange=${(e: Event) => go((e.target as HTMLSelectElement).value)}>
        ${(topics.data ?? []).map((t) => html`<option value=${t.name}>${t.name}</option>`)}
      </select></label>
      <table class="subs">
        <thead><tr><th>name</th><th class="n">backlog</th><th class="n">dead</th></tr></thead>
        <tbody>${(subs.data ?? []).map((s) => {
          const st = statusOf(s.name)
          return html`<tr class=${s.name === selected ? 'on' : ''} data-subscription=${s.name}>
            <td><a href=${`#/subscriptions/${encodeURIComponent(topic ?? '')}/${encodeURIComponent(s.name)}`}>${s.name}</a> <span class="muted">${st?.deliveryMode ?? ''}</span></td>
            <td class="n">${st === undefined ? '…' : num(st.backlog)}</td><td class="n">${st === undefined ? '…' : num(st.deadLettered)}</td></tr>`
        })}</tbody>
      </table>
      <p><a href=${`#/subscriptions/${encodeURIComponent(topic ?? '')}`}>New subscription</a></p>
      <${ErrorLine} error=${topics.error ?? subs.error} />
    </aside>
    <div class="main">
      ${topic === undefined
        ? html`<p class="muted">No topics yet.</p>`
        : selected === undefined
          ? html`<${Editor} api=${api} topic=${topic} initial=${TEMPLATE} onSaved=${(name: string) => { subs.reload(); go(topic, name) }} />`
          : html`<${Details} key=${topic + '/' + selected} api=${api} topic=${topic} name=${selected} status=${statusOf(selected)} onDeleted=${() => { subs.reload(); go(topic) }} />`}
    </div>
  </section>`
}
