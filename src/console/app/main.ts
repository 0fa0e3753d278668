import { html, render } from 'htm/preact'
import { useEffect, useMemo, useState } from 'preact/hooks'
import { ApiError, createApi, forgetKey, storedKey, storeKey } from './api.js'
import { DevicesPage } from './devices.js'
import { OverviewPage } from './overview.js'
import { SubscriptionsPage } from './subscriptions.js'
import { TelemetryPage } from './telemetry.js'
import { TopicsPage } from './topics.js'
import type { PageProps } from './ui.js'
import './style.css'

// The console's shell: sign-in with an access key, the navigation, and the page the address
// names (#/topics/orders). Every page talks to the gateway through the API in api.ts.

const PAGES: Array<{ id: string, title: string, page: (p: PageProps) => unknown }> = [
  { id: 'overview', title: 'Overview', page: OverviewPage },
  { id: 'topics', title: 'Topics', page: TopicsPage },
  { id: 'subscriptions', title: 'Subscriptions', page: SubscriptionsPage },
  { id: 'devices', title: 'Devices', page: DevicesPage },
  { id: 'telemetry', title: 'Telemetry', page: TelemetryPage }
]

function useHash (): string[] {
  const read = (): string[] => location.hash.replace(/^#\/?/, '').split('/').filter((s) => s !== '').map(decodeURIComponent)
  const [parts, setParts] = useState(read)
  useEffect(() => {
    const on = (): void => setParts(read())
    addEventListener('hashchange', on)
    return () => removeEventListener('hashchange', on)
  }, [])
  return parts
}

function SignIn ({ onKey, refused }: { onKey: (key: string) => void, refused: boolean }) {
  const [key, setKey] = useState('')
  const [error, setError] = useState<string | undefined>(refused ? 'The access key is no longer accepted; sign in again.' : undefined)
  const [busy, setBusy] = useState(false)
  const submit = (e: Event): void => {
    e.preventDefault()
    setBusy(true)
    setError(undefined)
    // Any call that needs the key tells whether it is accepted.
    createApi(key.trim(), () => {}).get('/topics').then(() => onKey(key.trim()), (err: unknown) => {
      setError(err instanceof ApiError && err.status === 401 ? 'The access key was refused.' : `The gateway did not answer: ${(err as Error).message}`)
    }).finally(() => setBusy(false))
  }
  return html`<main class="signin">
    <form onSubmit=${submit}>
      <h1>gridgate</h1>
      <p class="muted">Paste an HTTP access key (data/http-access-key, http.keys or GRIDGATE_HTTP_KEYS). It is kept in this tab only.</p>
      <input name="accessKey" type="password" autocomplete="off" placeholder="access key" value=${key} onInput=${(e: Event) => setKey((e.target as HTMLInputElement).value)} />
      <button type="submit" disabled=${busy || key.trim() === ''}>Sign in</button>
      ${error === undefined ? null : html`<p class="error" role="alert">${error}</p>`}
    </form>
  </main>`
}

function App () {
  const [key, setKey] = useState<string | null>(storedKey())
  const [refused, setRefused] = useState(false)
  const [pageId = 'overview', ...path] = useHash()
  const api = useMemo(() => key === null ? undefined : createApi(key, () => { forgetKey(); setRefused(true); setKey(null) }), [key])
  if (api === undefined) return html`<${SignIn} refused=${refused} onKey=${(k: string) => { storeKey(k); setRefused(false); setKey(k) }} />`
  const page = PAGES.find((p) => p.id === pageId) ?? PAGES[0]
  return html`<div class="shell">
    <header>
      <span class="brand">gridgate</span>
      <nav>${PAGES.map((p) => html`<a href=${'#/' + p.id} class=${p === page ? 'on' : ''}>${p.title}</a>`)}</nav>
      <button class="link" onClick=${() => { forgetKey(); setKey(null) }}>Sign out</button>
    </header>
    <main data-page=${page?.id}>${page === undefined ? null : html`<${page.page} key=${page.id} api=${api} path=${path} />`}</main>
  </div>`
}

const root = document.getElementById('app') as HTMLElement
root.textContent = '' // the 'Loading…' line
render(html`<${App} />`, root)
