// A small HTTP client for tests: JSON in, status + parsed JSON out, with the access key.

export interface Answer<T = any> {
  status: number
  headers: Headers
  body: T
  text: string
}

export interface Client {
  url: string
  request: <T = any>(method: string, path: string, opts?: { body?: unknown, raw?: string | Buffer, contentType?: string, headers?: Record<string, string>, auth?: string | null }) => Promise<Answer<T>>
  publish: (topic: string, events: unknown) => Promise<Answer>
}

export function client (url: string, key: string): Client {
  const request: Client['request'] = async (method, path, opts = {}) => {
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
    return { status: res.status, headers: res.headers, body: parsed as any, text }
  }
  return {
    url,
    request,
    publish: (topic, events) => request('POST', `/topics/${encodeURIComponent(topic)}:publish?api-version=2024-06-01`, {
      body: events,
      contentType: Array.isArray(events) ? 'application/cloudevents-batch+json; charset=utf-8' : 'application/cloudevents+json; charset=utf-8'
    })
  }
}

export function cloudEvent (id: string | number, data: unknown = { n: id }, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { specversion: '1.0', id: String(id), source: '/test', type: 'test.event', time: new Date().toISOString(), datacontenttype: 'application/json', data, ...extra }
}
