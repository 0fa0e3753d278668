// A small HTTP client for tests: JSON in, status + parsed JSON out, with the access key.
// The body of an answer is typed by the caller (`request<Command>(...)`, types in api.ts)
// and `unknown` when not: a test says what it expects to read instead of reading `any`.

export interface Answer<T = unknown> {
  status: number
  headers: Headers
  /** The parsed JSON body; undefined when the body is empty or not JSON (see `text`). */
  body: T
  text: string
}

export interface RequestOptions {
  /** Sent as JSON. */
  body?: unknown
  /** Sent as it is (with `contentType`, default application/json). */
  raw?: string | Buffer
  contentType?: string
  headers?: Record<string, string>
  /** The authorization header; null sends none (default: the client's access key). */
  auth?: string | null
}

export interface Client {
  url: string
  request: <T = unknown>(method: string, path: string, opts?: RequestOptions) => Promise<Answer<T>>
  /** POST /topics/{topic}:publish, one CloudEvent or a batch (an array). */
  publish: <T = unknown>(topic: string, events: unknown) => Promise<Answer<T>>
}

export function client (url: string, key: string): Client {
  const request = async <T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<Answer<T>> => {
    const headers: Record<string, string> = { ...opts.headers }
    if (opts.auth !== null) headers.authorization = opts.auth ?? `SharedAccessKey ${key}`
    let body: string | Buffer | undefined
    if (opts.raw !== undefined) body = opts.raw
    else if (opts.body !== undefined) body = JSON.stringify(opts.body)
    if (body !== undefined) headers['content-type'] = opts.contentType ?? 'application/json'
    const res = await fetch(url + path, { method, headers, body })
    const text = await res.text()
    let parsed: unknown
    try { parsed = text.length > 0 ? JSON.parse(text) : undefined } catch { parsed = undefined }
    return { status: res.status, headers: res.headers, body: parsed as T, text }
  }
  return {
    url,
    request,
    publish: async <T = unknown>(topic: string, events: unknown) => await request<T>('POST', `/topics/${encodeURIComponent(topic)}:publish?api-version=2024-06-01`, {
      body: events,
      contentType: Array.isArray(events) ? 'application/cloudevents-batch+json; charset=utf-8' : 'application/cloudevents+json; charset=utf-8'
    })
  }
}

export function cloudEvent (id: string | number, data: unknown = { n: id }, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { specversion: '1.0', id: String(id), source: '/test', type: 'test.event', time: new Date().toISOString(), datacontenttype: 'application/json', data, ...extra }
}
