import { execFile } from 'node:child_process'
import { X509Certificate, createPrivateKey, generateKeyPairSync, randomBytes } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { chmod, mkdir, mkdtemp, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises'
import { isIP } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { DEVICE_ID } from './core/names.js'

// Development certificates for the MQTT TLS (8883) and secure WebSocket (8084) listeners:
// a local CA, a server certificate for the given hosts and client certificates for devices.
// Certificates are signed by the `openssl` command (run with execFile, never through a
// shell); keys are EC P-256, made by node:crypto. Only extension files given to
// `-extfile`/`-config` are used (no `-addext`, no `-copy_extensions`), so OpenSSL 1.1 and 3
// both work. Not for production: the CA key sits unencrypted next to the certificates.

export interface CertOptions {
  /** Output directory, created if missing (mode 0700). */
  dir: string
  /** Server certificate SANs: IP addresses become IP entries, names DNS entries. */
  hosts?: string[]
  /** Device ids to make client certificates for (subject CN = device id). */
  devices?: string[]
  /** Validity in days of the certificates made by this call. */
  days?: number
  /** Make a new CA even if the directory has one (certificates from the old CA stop verifying). */
  force?: boolean
}

export interface CertPaths {
  dir: string
  caCert: string
  caKey: string
  serverCert: string
  serverKey: string
  /** The devices of this call (not every device certificate in the directory). */
  devices: Record<string, { cert: string, key: string }>
}

export const DEFAULT_HOSTS: readonly string[] = ['localhost', '127.0.0.1', '::1']
export const DEFAULT_DAYS = 825

// Device ids follow the registry's rule (core/names.ts DEVICE_ID): a certificate for an id
// the registry refuses would be of no use. It also keeps ids safe as file names ('.', '..',
// '/') and inside an openssl -subj ('/', '+', '=', '\').
const DNS_LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/
// X.509 (RFC 5280 ub-common-name) caps a CN at 64 characters and openssl enforces it, so
// registry ids of 65-128 characters cannot have a client certificate.
const MAX_CN = 64
const MAX_DAYS = 36_500
const OPENSSL_MISSING = 'openssl is needed to make certificates: apt-get install openssl'

/**
 * Makes (or completes) a directory of development certificates:
 *   ca.crt, ca.key                      the CA; reused when present unless `force`
 *   server.crt, server.key              made anew on every call, for `hosts`
 *   devices/<id>.crt, devices/<id>.key  one per device; an existing pair is kept while it
 *                                       is valid, matches and was issued by the current CA
 * Keys are written with mode 0600. Arguments are checked before anything is written.
 */
export async function makeDevCerts (opts: CertOptions): Promise<CertPaths> {
  const hosts = unique((opts.hosts ?? DEFAULT_HOSTS).map(assertHost))
  if (hosts.length === 0) throw new Error('at least one host is needed for the server certificate')
  const devices = unique((opts.devices ?? []).map(assertCertDeviceId))
  const days = opts.days ?? DEFAULT_DAYS
  if (!Number.isInteger(days) || days < 1 || days > MAX_DAYS) {
    throw new Error(`days must be a whole number from 1 to ${MAX_DAYS}, not ${String(days)}`)
  }

  const dir = resolve(opts.dir)
  const paths: CertPaths = {
    dir,
    caCert: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    serverCert: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
    devices: Object.fromEntries(devices.map((id) => [id, { cert: join(dir, 'devices', `${id}.crt`), key: join(dir, 'devices', `${id}.key`) }]))
  }

  await makePrivateDir(dir)
  if (devices.length > 0) await makePrivateDir(join(dir, 'devices'))

  const work = await mkdtemp(join(tmpdir(), 'gridgate-certs-'))
  try {
    const ca = opts.force === true ? undefined : await existingCa(paths)
    const { cert: caCert } = ca ?? await makeCa(paths, work, days)

    const sign = { caCert: paths.caCert, caKey: paths.caKey, work, days }
    const server = await issue(sign, hostSubject(hosts), serverExtensions(hosts))
    await writeAtomic(paths.serverKey, server.key, 0o600)
    await writeAtomic(paths.serverCert, server.cert, 0o644)

    for (const id of devices) {
      const out = paths.devices[id] as { cert: string, key: string }
      if (await keptDeviceCert(out, id, caCert)) continue
      const device = await issue(sign, `/CN=${id}`, DEVICE_EXTENSIONS)
      await writeAtomic(out.key, device.key, 0o600)
      await writeAtomic(out.cert, device.cert, 0o644)
    }
  } finally {
    await rm(work, { recursive: true, force: true })
  }
  return paths
}

/** Returns a host name or IP address that is safe to put in a SAN; throws otherwise. */
export function assertHost (host: string): string {
  if (typeof host !== 'string') throw new Error('a host must be a string')
  if (isIP(host) !== 0 && !host.includes('%')) return host
  const name = host.startsWith('*.') ? host.slice(2) : host
  const labels = name.split('.')
  if (host.length > 253 || !labels.every((l) => DNS_LABEL.test(l)) || /^\d+$/.test(labels.at(-1) as string)) {
    throw new Error(`host '${String(host).slice(0, 260)}' is invalid: use an IP address or a DNS name (letters, digits and '-' in dot-separated labels, optionally starting with '*.')`)
  }
  return host
}

/** Returns a device id that may be a certificate CN (at most 64 characters) and a file name; throws otherwise. */
export function assertCertDeviceId (id: string): string {
  if (typeof id !== 'string' || !DEVICE_ID.test(id)) {
    throw new Error(`device id '${String(id).slice(0, 140)}' is invalid: use 1-128 letters, digits, '-', '_', '.' or ':', starting with a letter or digit`)
  }
  if (id.length > MAX_CN) {
    throw new Error(`device id '${id}' is too long for a certificate: its subject CN holds at most ${MAX_CN} characters (X.509 ub-common-name)`)
  }
  return id
}

// --- CA -------------------------------------------------------------------------------------

const REQ_CONFIG = [
  '[req]',
  'distinguished_name = dn',
  'prompt = no',
  '[dn]',
  '[v3_ca]',
  'basicConstraints = critical, CA:TRUE, pathlen:0',
  'keyUsage = critical, keyCertSign, cRLSign',
  'subjectKeyIdentifier = hash',
  'authorityKeyIdentifier = keyid:always',
  ''
].join('\n')

async function existingCa (paths: CertPaths): Promise<{ cert: X509Certificate } | undefined> {
  const [certPem, keyPem] = await Promise.all([readIfExists(paths.caCert), readIfExists(paths.caKey)])
  if (certPem === undefined && keyPem === undefined) return undefined
  if (certPem === undefined || keyPem === undefined) {
    throw new Error(`${certPem === undefined ? paths.caCert : paths.caKey} is missing but ${certPem === undefined ? paths.caKey : paths.caCert} exists: restore it, or pass force to make a new CA`)
  }
  let cert: X509Certificate
  let key: KeyObject
  try {
    cert = new X509Certificate(certPem)
    key = createPrivateKey(keyPem)
  } catch (err) {
    throw new Error(`the CA in ${paths.dir} cannot be read (${(err as Error).message}): pass force to make a new one`, { cause: err })
  }
  if (!cert.ca) throw new Error(`${paths.caCert} is not a CA certificate: pass force to make a new CA`)
  if (!cert.checkPrivateKey(key)) throw new Error(`${paths.caKey} does not belong to ${paths.caCert}: pass force to make a new CA`)
  if (Date.parse(cert.validTo) <= Date.now()) throw new Error(`the CA in ${paths.caCert} expired on ${cert.validTo}: pass force to make a new one`)
  return { cert }
}

async function makeCa (paths: CertPaths, work: string, days: number): Promise<{ cert: X509Certificate }> {
  const key = newKey()
  const keyFile = join(work, 'ca.key')
  const config = join(work, 'ca.cnf')
  await writeFile(keyFile, key, { mode: 0o600 })
  await writeFile(config, REQ_CONFIG)
  const cert = await openssl([
    'req', '-new', '-x509', '-sha256', '-key', keyFile, '-days', String(days),
    '-subj', `/O=gridgate development/CN=gridgate development CA ${randomBytes(4).toString('hex')}`,
    '-set_serial', serial(), '-config', config, '-extensions', 'v3_ca'
  ])
  await writeAtomic(paths.caKey, key, 0o600)
  await writeAtomic(paths.caCert, cert, 0o644)
  return { cert: new X509Certificate(cert) }
}

// --- leaf certificates ----------------------------------------------------------------------

const DEVICE_EXTENSIONS = [
  'basicConstraints = critical, CA:FALSE',
  'keyUsage = critical, digitalSignature',
  'extendedKeyUsage = clientAuth',
  'subjectKeyIdentifier = hash',
  'authorityKeyIdentifier = keyid, issuer'
]

function serverExtensions (hosts: string[]): string[] {
  let dns = 0
  let ip = 0
  const alt = hosts.map((h) => isIP(h) !== 0 ? `IP.${++ip} = ${h}` : `DNS.${++dns} = ${h}`)
  return [
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature',
    'extendedKeyUsage = serverAuth',
    'subjectKeyIdentifier = hash',
    'authorityKeyIdentifier = keyid, issuer',
    'subjectAltName = @alt',
    '[alt]',
    ...alt
  ]
}

function hostSubject (hosts: string[]): string {
  const first = hosts[0] as string
  return `/O=gridgate development/CN=${first.length <= 64 ? first : 'gridgate development server'}`
}

interface Signer { caCert: string, caKey: string, work: string, days: number }

/** A new key and a certificate for it, signed by the CA, with the given extension lines. */
async function issue (ca: Signer, subject: string, extensions: string[]): Promise<{ key: string, cert: string }> {
  const base = join(ca.work, randomBytes(6).toString('hex'))
  const key = newKey()
  await writeFile(`${base}.key`, key, { mode: 0o600 })
  await writeFile(`${base}.cnf`, REQ_CONFIG)
  await writeFile(`${base}.ext`, ['[ext]', ...extensions, ''].join('\n'))
  await openssl(['req', '-new', '-sha256', '-key', `${base}.key`, '-subj', subject, '-config', `${base}.cnf`, '-out', `${base}.csr`])
  const cert = await openssl([
    'x509', '-req', '-sha256', '-in', `${base}.csr`, '-CA', ca.caCert, '-CAkey', ca.caKey,
    '-set_serial', serial(), '-days', String(ca.days), '-extfile', `${base}.ext`, '-extensions', 'ext'
  ])
  return { key, cert }
}

async function keptDeviceCert (out: { cert: string, key: string }, id: string, ca: X509Certificate): Promise<boolean> {
  const [certPem, keyPem] = await Promise.all([readIfExists(out.cert), readIfExists(out.key)])
  if (certPem === undefined || keyPem === undefined) return false
  try {
    const cert = new X509Certificate(certPem)
    return cert.subject === `CN=${id}` &&
      cert.checkIssued(ca) && cert.verify(ca.publicKey) &&
      cert.checkPrivateKey(createPrivateKey(keyPem)) &&
      Date.parse(cert.validTo) > Date.now()
  } catch {
    return false // unreadable: made anew
  }
}

// --- helpers --------------------------------------------------------------------------------

function newKey (): string {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string
}

/** A random positive 128-bit serial number, as openssl's -set_serial takes it. */
function serial (): string {
  const bytes = randomBytes(16)
  bytes[0] = ((bytes[0] as number) & 0x7f) | 0x40
  return `0x${bytes.toString('hex')}`
}

/** Runs openssl with the given arguments (no shell) and returns its standard output. */
function openssl (args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { encoding: 'utf8', timeout: 60_000, windowsHide: true }, (err, stdout, stderr) => {
      if (err === null) return resolve(stdout)
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return reject(new Error(OPENSSL_MISSING, { cause: err }))
      const detail = stderr.trim().split('\n').slice(0, 6).join('; ')
      reject(new Error(`openssl ${args[0] as string} failed${detail === '' ? '' : `: ${detail}`}`, { cause: err }))
    })
  })
}

async function makePrivateDir (path: string): Promise<void> {
  const created = await mkdir(path, { recursive: true, mode: 0o700 })
  if (created !== undefined) await chmod(path, 0o700) // whatever the umask
  else if (!(await stat(path)).isDirectory()) throw new Error(`${path} is not a directory`)
}

/** Writes through a temporary file in the same directory and a rename, so a file is never half written. */
async function writeAtomic (path: string, data: string, mode: number): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`
  try {
    await writeFile(tmp, data, { mode, flag: 'wx' })
    await chmod(tmp, mode)
    await rename(tmp, path)
  } catch (err) {
    await unlink(tmp).catch(() => {})
    throw err
  }
}

async function readIfExists (path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

function unique (items: string[]): string[] {
  return [...new Set(items)]
}
