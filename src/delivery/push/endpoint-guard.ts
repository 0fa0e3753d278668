import { lookup as dnsLookup } from 'node:dns'
import type { LookupAddress, LookupAllOptions } from 'node:dns'
import { isIP } from 'node:net'
import type { LookupFunction } from 'node:net'
import { Agent, buildConnector } from 'undici'
import { GridgateError } from '../../core/errors.js'

// SSRF protection for webhook targets: whoever creates a subscription chooses the URL, so
// without this the gateway would POST wherever it is told, including its own loopback, the
// private network behind it and the cloud metadata address (169.254.169.254).
// The address is checked when the socket is about to connect, after DNS resolution, so a
// name that resolves to a public address at validation and to a private one later (DNS
// rebinding) is still refused.

export type AddressKind = 'public' | 'loopback' | 'private' | 'link-local' | 'unspecified' | 'reserved'

export interface GuardOptions {
  /** Permits loopback targets (127.0.0.0/8, ::1) and nothing else non-public; for tests and local setups. */
  allowLoopback: boolean
}

function isAllowed (kind: AddressKind, opts: GuardOptions): boolean {
  return kind === 'public' || (kind === 'loopback' && opts.allowLoopback)
}

function forbidden (why: string): GridgateError {
  return new GridgateError('WEBHOOK_TARGET_FORBIDDEN', `Webhook target forbidden: ${why}`)
}

function parseIPv4 (text: string): [number, number, number, number] | undefined {
  // Canonical dotted quads only (what DNS answers and WHATWG URL hosts look like); anything
  // else is not an address here and gets classified 'reserved', i.e. refused.
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text)
  if (m === null) return undefined
  const parts = m.slice(1).map((p) => (p.length > 1 && p.startsWith('0')) ? NaN : Number(p))
  if (parts.some((p) => !(p <= 255))) return undefined
  return parts as [number, number, number, number]
}

/** Eight 16-bit groups, or undefined. Accepts `::` compression, a dotted IPv4 tail and a zone id. */
function parseIPv6 (text: string): number[] | undefined {
  let s = text
  const zone = s.indexOf('%')
  if (zone !== -1) s = s.slice(0, zone)
  let tail: number[] = []
  if (s.includes('.')) {
    const lastColon = s.lastIndexOf(':')
    const v4 = parseIPv4(s.slice(lastColon + 1))
    if (lastColon === -1 || v4 === undefined) return undefined
    tail = [(v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]]
    s = s.slice(0, lastColon + 1)
    if (!s.endsWith('::')) s = s.slice(0, -1)
  }
  const halves = s.split('::')
  if (halves.length > 2) return undefined
  const groups = (part: string): number[] => part === ''
    ? []
    : part.split(':').map((g) => /^[0-9a-f]{1,4}$/i.test(g) ? parseInt(g, 16) : NaN)
  const head = groups(halves[0] as string)
  if (halves.length === 1) {
    const all = [...head, ...tail]
    return all.length === 8 && !all.some(Number.isNaN) ? all : undefined
  }
  const rest = groups(halves[1] as string)
  const fill = 8 - head.length - rest.length - tail.length
  const all = [...head, ...new Array<number>(Math.max(fill, 0)).fill(0), ...rest, ...tail]
  return fill >= 1 && !all.some(Number.isNaN) ? all : undefined
}

function classifyV4 ([a, b, c, d]: readonly [number, number, number, number]): AddressKind {
  if (a === 0) return b === 0 && c === 0 && d === 0 ? 'unspecified' : 'reserved' // 0.0.0.0/8 "this network"
  if (a === 127) return 'loopback'
  if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)) return 'private' // RFC 1918
  if (a === 100 && b >= 64 && b <= 127) return 'private' // 100.64/10 carrier-grade NAT, RFC 6598
  if (a === 169 && b === 254) return 'link-local' // incl. the cloud metadata address 169.254.169.254
  if (a === 192 && b === 0 && (c === 0 || c === 2)) return 'reserved' // IETF protocol assignments, TEST-NET-1
  if (a === 192 && b === 88 && c === 99) return 'reserved' // 6to4 relay anycast, RFC 7526
  if (a === 198 && (b === 18 || b === 19)) return 'reserved' // benchmarking, RFC 2544
  if ((a === 198 && b === 51 && c === 100) || (a === 203 && b === 0 && c === 113)) return 'reserved' // TEST-NET-2/3
  if (a >= 224) return 'reserved' // 224/4 multicast, 240/4 reserved, 255.255.255.255 broadcast
  return 'public'
}

function embeddedV4 (hi: number, lo: number): [number, number, number, number] {
  return [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]
}

function classifyV6 (g: readonly number[]): AddressKind {
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = g
  const zeroTo = (n: number): boolean => g.slice(0, n).every((x) => x === 0)
  if (zeroTo(8)) return 'unspecified'
  if (zeroTo(7) && g7 === 1) return 'loopback'
  // IPv4-mapped ::ffff:a.b.c.d and NAT64 64:ff9b::a.b.c.d (RFC 6052) reach the embedded IPv4
  // address, so they are whatever that address is (::ffff:127.0.0.1 is loopback).
  if (zeroTo(5) && g5 === 0xffff) return classifyV4(embeddedV4(g6, g7))
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) return classifyV4(embeddedV4(g6, g7))
  if ((g0 & 0xfe00) === 0xfc00) return 'private' // fc00::/7 unique local
  if ((g0 & 0xffc0) === 0xfe80) return 'link-local' // fe80::/10
  if ((g0 & 0xffc0) === 0xfec0) return 'private' // fec0::/10 site-local (deprecated, RFC 3879)
  if ((g0 & 0xff00) === 0xff00) return 'reserved' // multicast
  if (g0 === 0x2002) return classifyV4(embeddedV4(g1, g2)) // 6to4 (RFC 3056) relays to the embedded IPv4
  if (g0 === 0x2001 && (g1 === 0x0db8 || g1 < 0x0200)) return 'reserved' // documentation; 2001::/23 incl. Teredo
  if (g0 === 0x3fff && g1 < 0x1000) return 'reserved' // documentation, RFC 9637
  if ((g0 & 0xe000) === 0x2000) return 'public' // 2000::/3 global unicast
  return 'reserved' // ::/8 (IPv4-compatible), 100::/64 discard, unassigned space
}

/**
 * What kind of address `ip` is (IPv4 dotted quad or IPv6, without brackets). Pure. Anything
 * that does not parse as an address is 'reserved', so a caller that refuses non-public kinds
 * refuses it too.
 */
export function classifyAddress (ip: string): AddressKind {
  const v4 = parseIPv4(ip)
  if (v4 !== undefined) return classifyV4(v4)
  const v6 = parseIPv6(ip)
  return v6 === undefined ? 'reserved' : classifyV6(v6)
}

function unbracket (host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
}

function refuseLiteral (host: string, opts: GuardOptions): GridgateError | undefined {
  const ip = unbracket(host)
  if (isIP(ip) === 0) return undefined
  const kind = classifyAddress(ip)
  return isAllowed(kind, opts) ? undefined : forbidden(`${ip} is ${article(kind)} ${kind} address`)
}

function article (kind: AddressKind): string {
  return kind === 'unspecified' ? 'an' : 'a'
}

/**
 * Parses and checks a webhook endpoint: an absolute `https:` or `http:` URL without
 * credentials whose host, when an IP literal, is allowed. Host names are checked later, at
 * connect time, by the guarded agent. Throws GridgateError('WEBHOOK_TARGET_FORBIDDEN').
 */
export function assertEndpointUrl (url: string, opts: GuardOptions): URL {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw forbidden('the endpoint is not an absolute URL')
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw forbidden(`the scheme ${parsed.protocol} is not allowed; use https: or http:`)
  }
  // Credentials in the URL would be sent to the endpoint and logged with it.
  if (parsed.username !== '' || parsed.password !== '') throw forbidden('the URL carries credentials (user:password@)')
  // WHATWG URL parsing has already turned 0x7f.1, 2130706433 and 127.1 into 127.0.0.1.
  const refused = refuseLiteral(parsed.hostname, opts)
  if (refused !== undefined) throw refused
  return parsed
}

type Resolver = (
  hostname: string,
  options: LookupAllOptions,
  callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void
) => void

/**
 * A `lookup` for net/tls.connect that resolves every address of `hostname` and fails with
 * WEBHOOK_TARGET_FORBIDDEN when any of them is not allowed (a name with one private address
 * among public ones is refused outright rather than filtered). `resolve` is for tests.
 */
export function createGuardedLookup (opts: GuardOptions, resolve: Resolver = dnsLookup): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, { ...options, all: true }, (err, addresses) => {
      if (err !== null) {
        callback(err, '')
        return
      }
      for (const { address } of addresses) {
        const kind = classifyAddress(address)
        if (!isAllowed(kind, opts)) {
          callback(forbidden(`${hostname} resolves to ${address}, ${article(kind)} ${kind} address`), '')
          return
        }
      }
      const first = addresses[0]
      if (first === undefined) {
        callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), '')
      } else if (options.all === true) {
        // net.connect asks for all addresses when it races IPv4 and IPv6 (autoSelectFamily).
        callback(null, addresses)
      } else {
        callback(null, first.address, first.family)
      }
    })
  }
}

/**
 * A keep-alive undici Agent for webhook deliveries that refuses forbidden targets before any
 * socket exists: IP literal hosts are checked in the connector (net.connect never calls
 * `lookup` for them) and host names in the `lookup` it hands to net/tls.connect. The refusal
 * is a GridgateError('WEBHOOK_TARGET_FORBIDDEN') whose message says why; requests reject with it.
 */
export function createGuardedAgent (opts: GuardOptions & { connectTimeoutMs: number, connections?: number }): Agent {
  const guard: GuardOptions = { allowLoopback: opts.allowLoopback }
  const connector = buildConnector({ timeout: opts.connectTimeoutMs, lookup: createGuardedLookup(guard) })
  const connect: buildConnector.connector = (options, callback) => {
    const refused = refuseLiteral(options.hostname, guard)
    if (refused !== undefined) {
      callback(refused, null)
      return
    }
    connector(options, callback)
  }
  return new Agent({ connect, ...(opts.connections === undefined ? {} : { connections: opts.connections }) })
}
