import { html } from 'htm/preact'
import { useState } from 'preact/hooks'
import { ago, ErrorLine, LiveBadge, parseJson, useAction, useLoad, useStream, type PageProps, type StreamEvents } from './ui.js'

// Devices: presence (live, from the system topic's device.connected/disconnected events),
// register (the password is shown once), attributes, revoke, and commands with their
// lifecycle as the commands topic records it (device.command.{status} events, pushed live).

interface Device { id: string, attributes: Record<string, string>, createdAt: string, connected: boolean, lastSeen: string | null, groups?: string[], password?: string }
interface Command { id: string, name: string, status: string, payload?: unknown, result?: unknown, error?: string | null, createdAt: string, updatedAt: string }

const devicePath = (id: string): string => `/devices/${encodeURIComponent(id)}`
const ENDED = new Set(['succeeded', 'failed', 'timedOut', 'expired', 'canceled'])

function Register ({ api, onRegistered }: { api: PageProps['api'], onRegistered: () => void }) {
  const [id, setId] = useState('')
  const [attrs, setAttrs] = useState('')
  const [created, setCreated] = useState<Device | undefined>(undefined)
  const act = useAction()
  return html`<div class="panel">
    <h3>Register a device</h3>
    <form class="row" onSubmit=${(e: Event) => {
      e.preventDefault()
      act.run(async () => {
        const attributes = parseJson(attrs, 'The attributes')
        const d = await api.send<Device>('PUT', devicePath(id), attributes === undefined ? {} : { attributes })
        setCreated(d.password === undefined ? undefined : d)
        setId('')
        setAttrs('')
        onRegistered()
      })
    }}>
      <input name="deviceId" placeholder="device id" value=${id} onInput=${(e: Event) => setId((e.target as HTMLInputElement).value)} />
      <input name="attributes" placeholder='attributes: {"site":"oslo"}' value=${attrs} onInput=${(e: Event) => setAttrs((e.target as HTMLInputElement).value)} />
      <button type="submit" disabled=${act.busy || id === ''}>Register</button>
    </form>
    <${ErrorLine} error=${act.error} />
    ${created === undefined
      ? null
      : html`<div class="once" role="status">
        <p>Password of <b>${created.id}</b>, shown only now (gridgate keeps a hash):</p>
        <code class="password" data-device=${created.id}>${created.password}</code>
        <p class="muted">Connect with client id = username = ${created.id}.</p>
        <button onClick=${() => setCreated(undefined)}>I have stored it</button>
      </div>`}
  </div>`
}

/** The lifecycle's order, to show the states seen in it however they arrived. */
const ORDER = ['pending', 'sent', 'delivered', 'succeeded', 'failed', 'timedOut', 'expired', 'canceled']

/** Each command's states as the commands topic told them, by command id, since the page opened. */
type Seen = Record<string, Command[]>

function Commands ({ api, device, seen }: { api: PageProps['api'], device: Device, seen: Seen }) {
  const [name, setName] = useState('reboot')
  const [payload, setPayload] = useState('{}')
  const [timeout, setTimeoutS] = useState('30')
  const [current, setCurrent] = useState<string | undefined>(undefined)
  const [answers, setAnswers] = useState<Command[]>([])
  const seenCount = Object.values(seen).reduce((n, cs) => n + cs.length, 0)
  const list = useLoad(async () => (await api.get<{ value: Command[] }>(`${devicePath(device.id)}/commands?limit=10`)).value, [device.id, seenCount])
  const act = useAction()
  const record = (c: Command): void => setAnswers((a) => [...a, c])
  // The states of the command sent here: from the API's answers and the pushed events, once each, in lifecycle order.
  const steps = [...answers, ...(current === undefined ? [] : seen[current] ?? [])]
    .filter((c, i, all) => c.id === current && all.findIndex((x) => x.status === c.status) === i)
    .sort((a, b) => ORDER.indexOf(a.status) - ORDER.indexOf(b.status))
    .map((c) => ({ status: c.status, at: c.updatedAt, command: c }))
  const last = steps[steps.length - 1]?.command
  return html`<div class="panel">
    <h3>Send a command</h3>
    <form class="row" onSubmit=${(e: Event) => {
      e.preventDefault()
      act.run(async () => {
        const body = { name, payload: parseJson(payload, 'The payload'), timeoutSeconds: Number(timeout) }
        setAnswers([])
        const c = await api.send<Command>('POST', `${devicePath(device.id)}/commands`, body)
        setCurrent(c.id)
        record(c)
        // Transitions may have been pushed before this answer: ask once for where it is now.
        record(await api.get<Command>(`${devicePath(device.id)}/commands/${encodeURIComponent(c.id)}`))
      })
    }}>
      <input name="commandName" placeholder="name" value=${name} onInput=${(e: Event) => setName((e.target as HTMLInputElement).value)} />
      <input name="payload" class="wide" placeholder="payload (JSON)" value=${payload} onInput=${(e: Event) => setPayload((e.target as HTMLInputElement).value)} />
      <label>timeout s <input name="timeoutSeconds" type="number" min="1" value=${timeout} onInput=${(e: Event) => setTimeoutS((e.target as HTMLInputElement).value)} /></label>
      <button type="submit" disabled=${act.busy || name === ''}>Send</button>
    </form>
    <${ErrorLine} error=${act.error} />
    ${current === undefined
      ? null
      : html`<ol class="lifecycle" data-command=${current}>${steps.map((s) => html`<li class=${'status-' + s.status} data-status=${s.status}><b>${s.status}</b> <span class="muted">${new Date(s.at).toLocaleTimeString()}</span></li>`)}</ol>
        ${last !== undefined && ENDED.has(last.status)
          ? html`<p class="result">result: <code>${JSON.stringify(last.result ?? last.error ?? null)}</code></p>`
          : html`<p class="muted">waiting for the device…</p>`}`}
    <h3>Recent commands</h3>
    <table>
      <thead><tr><th>name</th><th>status</th><th>updated</th><th>id</th></tr></thead>
      <tbody>${(list.data ?? []).map((c) => html`<tr><td>${c.name}</td><td class=${'status-' + c.status}>${c.status}</td><td>${ago(c.updatedAt)}</td><td class="muted">${c.id}</td></tr>`)}</tbody>
    </table>
  </div>`
}

function Details ({ api, device, seen, onChanged, onRevoked }: { api: PageProps['api'], device: Device, seen: Seen, onChanged: () => void, onRevoked: () => void }) {
  const [attrs, setAttrs] = useState(JSON.stringify(device.attributes))
  const [confirm, setConfirm] = useState(false)
  const act = useAction()
  return html`<div>
    <h2>${device.id} <span class=${device.connected ? 'dot on' : 'dot'} data-presence=${device.connected ? 'connected' : 'offline'}>${device.connected ? 'connected' : 'offline'}</span></h2>
    <p class="muted">registered ${new Date(device.createdAt).toLocaleString()}; last seen ${ago(device.lastSeen)}; groups ${(device.groups ?? []).join(', ')}</p>
    <div class="panel">
      <h3>Attributes</h3>
      <form class="row" onSubmit=${(e: Event) => {
        e.preventDefault()
        act.run(async () => { await api.send('PUT', devicePath(device.id), { attributes: parseJson(attrs, 'The attributes') ?? {} }); onChanged() })
      }}>
        <input name="deviceAttributes" class="wide" value=${attrs} onInput=${(e: Event) => setAttrs((e.target as HTMLInputElement).value)} />
        <button type="submit" disabled=${act.busy}>Save</button>
      </form>
      <${ErrorLine} error=${act.error} />
    </div>
    <${Commands} api=${api} device=${device} seen=${seen} />
    <div class="row">
      ${confirm
        ? html`<button class="danger" name="confirmRevoke" onClick=${() => act.run(async () => { await api.send('DELETE', devicePath(device.id)); onRevoked() })}>Revoke ${device.id}: its credentials and connections go</button>
          <button onClick=${() => setConfirm(false)}>Keep it</button>`
        : html`<button class="danger" name="revoke" onClick=${() => setConfirm(true)}>Revoke…</button>`}
    </div>
  </div>`
}

export function DevicesPage ({ api, path }: PageProps) {
  const selected = path[0]
  const devices = useLoad(async () => (await api.get<{ value: Device[] }>('/devices')).value, [])
  const [presence, setPresence] = useState<Record<string, { connected: boolean, at: string }>>({})
  const [seen, setSeen] = useState<Record<string, Seen>>({}) // by device
  const live = useStream(api, ['system', 'commands'], (event, data) => {
    if (event !== 'events') return
    const m = data as StreamEvents
    if (m.topic === 'system') {
      const next: Record<string, { connected: boolean, at: string }> = {}
      let unknown = false
      for (const { event: e, time } of m.value) {
        if (e.deviceid === undefined || (e.type !== 'device.connected' && e.type !== 'device.disconnected')) continue
        next[e.deviceid] = { connected: e.type === 'device.connected', at: time }
        if (devices.data?.some((d) => d.id === e.deviceid) !== true) unknown = true
      }
      setPresence((p) => ({ ...p, ...next }))
      if (unknown) devices.reload()
    } else if (m.topic === 'commands') {
      // Several messages may arrive before the next render: add to what is there, never replace it.
      setSeen((all) => {
        const next = { ...all }
        for (const { event: e } of m.value) {
          const c = e.data as Command
          if (e.deviceid === undefined || typeof c?.id !== 'string') continue
          const mine = { ...next[e.deviceid] }
          mine[c.id] = [...(mine[c.id] ?? []), c].slice(-ORDER.length)
          next[e.deviceid] = mine
        }
        return next
      })
    }
  })
  const view = (d: Device): Device => {
    const p = presence[d.id]
    return p === undefined ? d : { ...d, connected: p.connected, lastSeen: p.at }
  }
  const list = (devices.data ?? []).map(view)
  const device = list.find((d) => d.id === selected)
  return html`<section class="split">
    <aside>
      <h1>Devices <${LiveBadge} live=${live} /></h1>
      <table class="devices">
        <thead><tr><th>device</th><th>presence</th><th>last seen</th></tr></thead>
        <tbody>${list.map((d) => html`<tr class=${d.id === selected ? 'on' : ''} data-device=${d.id}>
          <td><a href=${`#/devices/${encodeURIComponent(d.id)}`}>${d.id}</a></td>
          <td><span class=${d.connected ? 'dot on' : 'dot'} data-presence=${d.connected ? 'connected' : 'offline'}>${d.connected ? 'connected' : 'offline'}</span></td>
          <td class="muted">${ago(d.lastSeen)}</td></tr>`)}</tbody>
      </table>
      <${ErrorLine} error=${devices.error} />
    </aside>
    <div class="main">
      <${Register} api=${api} onRegistered=${() => devices.reload()} />
      ${device === undefined
        ? html`<p class="muted">${selected === undefined ? 'Choose a device.' : devices.data === undefined ? 'Loading…' : `No device '${selected}'.`}</p>`
        : html`<${Details} key=${device.id} api=${api} device=${device} seen=${seen[device.id] ?? {}} onChanged=${() => devices.reload()} onRevoked=${() => { devices.reload(); location.hash = '#/devices' }} />`}
    </div>
  </section>`
}
