import { createHash, timingSafeEqual } from 'node:crypto'

// Access keys are kept only as SHA-256 digests and compared in constant time.
// Accepted forms: `SharedAccessKey <key>` (what Event Grid clients send) and `Bearer <key>`.

export interface Authenticator {
  /** True when the Authorization header carries a configured key. */
  check: (authorization: string | undefined) => boolean
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest()

export function createAuthenticator (keys: readonly string[]): Authenticator {
  const digests = keys.map(digest)
  return {
    check (authorization) {
      if (authorization === undefined) return false
      const m = /^(SharedAccessKey|Bearer)\s+(\S+)\s*$/i.exec(authorization)
      if (m === null) return false
      const given = digest(m[2] as string)
      let ok = false
      for (const d of digests) ok = timingSafeEqual(d, given) || ok
      return ok
    }
  }
}

// Probes stay open so orchestrators need no key, and so does the API's description (it
// describes, it exposes no data): the OpenAPI document and the browsable docs with their assets.
// So does the web console's page and its assets (/, /console/*): the page asks for the key.
const OPEN_PATHS = new Set(['/healthz', '/readyz', '/openapi.json', '/docs', '/'])

/** Whether a request path (without its query) is answered without an access key. */
export function isOpenPath (path: string): boolean {
  return OPEN_PATHS.has(path) || path.startsWith('/docs/') || path.startsWith('/console/')
}
