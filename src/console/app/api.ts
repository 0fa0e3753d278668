// The console's only way to the gateway: the HTTP API with the access key in the
// Authorization header (never in a URL), and GET /stream read with fetch, since EventSource
// cannot send headers. The key lives in sessionStorage: gone when the tab closes.

const KEY_ITEM = 'gridgate.accessKey'

export const storedKey = (): string | null => sessionStorage.getItem(KEY_ITEM)
export const storeKey = (key: string): void => { sessionStorage.setItem(KEY_ITEM, key) }
export const forgetKey = (): void => { sessionStorage.removeItem(KEY_ITEM) }

export class ApiError extends Error {
  constructor (readonly status: number, readonly code: string, message: string) {
    super(message)
    this.name = 'ApiError'
  }
}

export interface Api {
  get: <T>(path: string) => Promise<T>
  send: <T>(method: string, path: string, body?: unknown) => Promise<T>
  /** Follows GET /stream until `signal` aborts; resolves when the stream ends. */
  stream: (topics: readonly string[], onMessage: (event: string, data: unknown) => void, signal: AbortSignal) => Promise<void>
}

/** `onRefused` runs when the gateway answers 401: the key is no longer accepted. */
export function createApi (key: string, onRefused: () => void): Api {
  const headers = (json: boolean): Record<string, string> => ({
    authorization: `SharedAccessKey ${key}`,
    ...(json ? { 'content-type': 'application/json' } : {})
  })

  async function send<T> (method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(path, { method, headers: headers(body !== undefined), body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' })
    const text = await res.text()
    let parsed: unknown
    try { parsed = text.length > 0 ? JSON.parse(text) : undefined } catch { parsed = undefined }
    if (!res.ok) {
      if (res.status === 401) onRefused()
      const err = (parsed as { error?: { code?: string, message?: string } } | undefined)?.error
      throw new ApiError(res.status, err?.code ?? 'HTTP_' + String(res.status), err?.message ?? (text.slice(0, 200) || res.statusText))
    }
    return parsed as T
  }

  async function stream (topics: readonly string[], onMessage: (event: string, data: unknown) => void, signal: AbortSignal): Promise<void> {
    const q = topics.length > 0 ? `?topics=${encodeURIComponent(topics.join(','))}` : ''
    const res = await fetch(`/stream${q}`, { headers: headers(false), signal, cache: 'no-store' })
    if (!res.ok || res.body === null) {
      if (res.status === 401) onRefused()
      throw new ApiError(res.status, 'STREAM', `the live stream was refused (${res.status})`)
    }
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
    let buffer = ''
    for (;;) {
      const { value, done } = await reader.read()
      if (done) return
      buffer += value
      let end: number
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        let event = 'message'
        let data = ''
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) event = line.slice(7)
          else if (line.startsWith('data: ')) data += line.slice(6)
        }
        if (data.length > 0) onMessage(event, JSON.parse(data))
      }
    }
  }

  return { get: async (path) => await send('GET', path), send, stream }
}
