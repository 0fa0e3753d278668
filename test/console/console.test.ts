import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { PassThrough } from 'node:stream'
import { fileURLToPath } from 'node:url'
import type { MqttClient } from 'mqtt'
import { chromium, type Browser, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildConsole } from '../../src/console/build.js'
import { cloudEvent } from '../helpers/http.js'
import { startTestGateway, TEST_KEY, type TestGateway } from '../helpers/gateway.js'
import { connectDevice } from '../helpers/mqtt.js'
import { within } from '../helpers/wait.js'

// The web console in a real browser: Debian's chromium driven by playwright-core, against a
// whole gateway in this process with real mqtt.js devices. The steps run in order on one
// page, as a person would use it; each page is written to test-output/console/ as a PNG.

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p))
if (CHROMIUM === undefined) {
  console.warn('test/console: skipped, no chromium binary at /usr/bin/chromium (apt-get install chromium; .ci/run installs it)')
}
const SHOTS = fileURLToPath(new URL('../../test-output/console/', import.meta.url))
const WAIT = { timeout: 25_000 }

describe.skipIf(CHROMIUM === undefined)('the web console in chromium', () => {
  let gw: TestGateway
  let browser: Browser
  let page: Page
  let url: string
  let device: MqttClient | undefined
  const logged: Buffer[] = []
  const requests: Array<{ url: string, authorization: string | undefined }> = []

  const shot = async (name: string): Promise<void> => { await page.screenshot({ path: `${SHOTS}${name}.png`, fullPage: true }) }
  const open = async (hash: string): Promise<void> => {
    await page.evaluate(`location.hash = ${JSON.stringify(hash)}`)
    await page.waitForSelector(`main[data-page="${hash.split('/')[1] ?? ''}"]`, WAIT)
  }

  beforeAll(async () => {
    await Promise.all([buildConsole(), mkdir(SHOTS, { recursive: true })])
    const logTo = new PassThrough()
    logTo.on('data', (chunk: Buffer) => logged.push(chunk))
    gw = await startTestGateway({ log: { level: 'debug' }, telemetry: { checkpointIntervalMs: 100 } }, { logTo })
    url = gw.gateway.listeners.http
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, timezoneId: 'UTC' })
    page = await context.newPage()
    page.setDefaultTimeout(WAIT.timeout)
    // A request still open when afterAll closes the browser (the live overview's stream) can no
    // longer be read: it is left out rather than failing the run as an unhandled rejection.
    page.on('request', (req) => { req.allHeaders().then((h) => requests.push({ url: req.url(), authorization: h.authorization }), () => {}) })
  })

  afterAll(async () => {
    await device?.endAsync(true)
    await browser?.close()
    await gw?.stop()
  })

  it('refuses a wrong access key and stays on the sign-in form', async () => {
    await page.goto(`${url}/`)
    await page.fill('input[name=accessKey]', 'not-the-key')
    await page.click('button[type=submit]')
    await expect.poll(async () => await page.textContent('[role=alert]'), WAIT).toContain('The access key was refused')
    expect(await page.evaluate('sessionStorage.length')).toBe(0)
    await shot('sign-in-refused')
  })

  it('signs in with the key, keeps it in session storage only, and shows the live overview', async () => {
    await page.fill('input[name=accessKey]', TEST_KEY)
    await page.click('button[type=submit]')
    await page.waitForSelector('main[data-page=overview] .badge.live')
    await page.waitForSelector('[data-stat=storage] .value')
    expect(await page.evaluate("[sessionStorage.getItem('gridgate.accessKey'), localStorage.length]")).toEqual([TEST_KEY, 0])
    expect(await page.textContent('[data-stat=devices] .value')).toBe('0')
    await shot('overview')
  })

  it('registers a device with its password shown once, and shows it connect live', async () => {
    await open('#/devices')
    await page.fill('input[name=deviceId]', 'sensor-1')
    await page.fill('input[name=attributes]', '{"site":"oslo"}')
    await page.click('form:has(input[name=deviceId]) button[type=submit]')
    const password = (await page.textContent('code.password[data-device="sensor-1"]'))?.trim() ?? ''
    expect(password.length).toBeGreaterThan(20)
    await page.waitForSelector('tr[data-device="sensor-1"] [data-presence=offline]')
    await page.waitForSelector('main[data-page=devices] .badge.live')

    device = await connectDevice(gw.gateway.listeners.mqtt, 'sensor-1', password)
    await page.waitForSelector('tr[data-device="sensor-1"] [data-presence=connected]')
    await page.click('button:has-text("I have stored it")')
    expect(await page.locator('code.password').count()).toBe(0)
  })

  it('sends a command to the simulated device and follows it to succeeded', async () => {
    const d = device as MqttClient
    await d.subscribeAsync('devices/sensor-1/commands/#', { qos: 1 })
    d.on('message', (topic, payload) => {
      const commandId = topic.split('/').pop() as string
      const { delaySeconds } = JSON.parse(payload.toString()) as { delaySeconds: number }
      void d.publishAsync(`devices/sensor-1/responses/${commandId}`, JSON.stringify({ status: 'succeeded', result: { rebootedIn: delaySeconds } }), { qos: 1 })
    })
    await page.click('a[href="#/devices/sensor-1"]')
    await page.fill('input[name=commandName]', 'reboot')
    await page.fill('input[name=payload]', '{"delaySeconds":5}')
    await page.click('form:has(input[name=commandName]) button[type=submit]')
    await page.waitForSelector('.lifecycle li[data-status=succeeded]')
    expect(await page.textContent('.result')).toContain('{"rebootedIn":5}')
    // succeeded may come first from the API's answer, the earlier states from the pushed events just after it.
    await expect.poll(async () => await page.locator('.lifecycle li').evaluateAll((lis) => lis.map((li) => li.getAttribute('data-status'))), { timeout: 10_000 }).toEqual(['pending', 'sent', 'delivered', 'succeeded'])
    await shot('devices')
  })

  it("draws the device's telemetry in the chosen window kind, takes in new readings as they arrive, and defines a continuous window", async () => {
    const d = device as MqttClient
    for (const temperature of [20.5, 21, 21.5]) await d.publishAsync('devices/sensor-1/telemetry', JSON.stringify({ temperature }), { qos: 1 })
    await open('#/telemetry/sensor-1/temperature')
    await page.waitForSelector('.chart canvas')
    await expect.poll(async () => await page.textContent('.last-value'), WAIT).toBe('21.5')
    await page.waitForSelector('main[data-page=telemetry] .badge.live')
    await d.publishAsync('devices/sensor-1/telemetry', JSON.stringify({ temperature: 23.25 }), { qos: 1 })
    await expect.poll(async () => await page.textContent('.last-value'), WAIT).toBe('23.25')
    expect(Number(await page.getAttribute('[data-points]', 'data-points'))).toBeGreaterThan(0)
    const sliding = page.waitForResponse((r) => r.url().includes('/telemetry/sensor-1/temperature?') && r.url().includes('window=sliding'))
    await page.selectOption('select[name=window]', 'sliding')
    expect((await sliding).status()).toBe(200)
    await expect.poll(async () => Number(await page.getAttribute('[data-points]', 'data-points')), WAIT).toBeGreaterThan(0)

    await page.fill('input[name=windowName]', 'temp-1m')
    await page.click('form:has(input[name=windowName]) button[type=submit]')
    await page.waitForSelector('tr[data-window="temp-1m"]')
    expect((await gw.request<{ window: unknown }>('GET', '/windows/temp-1m')).body.window).toMatchObject({ kind: 'tumbling', sizeSeconds: 60 })
    await shot('telemetry')
  })

  it('replays a topic from an offset and from a time, filtered, as pretty JSON, and tails new events live', async () => {
    await gw.request('PUT', '/topics/orders')
    const before = new Date(Date.now() - 60_000).toISOString().slice(0, 19)
    await gw.publish('orders', [cloudEvent('o-1', { total: 42 }, { type: 'order.created' }), cloudEvent('o-2', { total: 42 }, { type: 'order.paid' }), cloudEvent('o-3', { total: 7 }, { type: 'order.sent' })])
    await open('#/topics/orders')
    await page.fill('input[name=fromOffset]', '1')
    await page.click('form:has(input[name=fromOffset]) button[type=submit]')
    await page.waitForSelector('.replay li[data-offset="2"]')
    expect(await page.locator('.replay li').count()).toBe(2)

    await page.selectOption('select[name=from]', 'time')
    await page.fill('input[name=fromTime]', before)
    await page.fill('input[name=filter]', 'paid')
    await page.click('form:has(input[name=filter]) button[type=submit]')
    await page.waitForSelector('.replay li[data-offset="1"]')
    expect(await page.locator('.replay li').count()).toBe(1)
    await page.click('.replay li[data-offset="1"] button')
    expect(await page.textContent('.replay pre.json')).toContain('"type": "order.paid"')

    await page.waitForSelector('main[data-page=topics] .badge.live')
    await gw.publish('orders', cloudEvent('o-4', { total: 99 }, { type: 'order.refunded' }))
    await page.waitForSelector('.tail li[data-offset="3"]:has-text("order.refunded")')
    await shot('topics')
  })

  it('creates a queue subscription, shows its dead letter live, redelivers it, and edits the subscription', async () => {
    await open('#/subscriptions/orders')
    await page.fill('input[name=subscriptionName]', 'audit')
    await page.click('form:has(input[name=subscriptionName]) button[type=submit]')
    await page.waitForSelector('[data-subscription=audit] [data-stat=backlog]')

    const sub = '/topics/orders/eventsubscriptions/audit'
    await gw.publish('orders', cloudEvent('o-5', { total: 1 }, { type: 'order.broken' }))
    const got = await gw.request<{ value: Array<{ brokerProperties: { lockToken: string } }> }>('POST', `${sub}:receive?maxEvents=1&maxWaitTime=10`)
    const lockToken = got.body.value[0]?.brokerProperties.lockToken as string
    expect((await gw.request('POST', `${sub}:reject`, { body: { lockTokens: [lockToken] } })).status).toBe(200)

    await page.waitForSelector('table.deadletters tr[data-offset="4"]')
    await expect.poll(async () => await page.textContent('[data-subscription=audit] [data-stat=deadLettered] .value'), WAIT).toBe('1')
    await shot('subscriptions')
    await page.click('table.deadletters tr[data-offset="4"] button:has-text("Redeliver")')
    await page.waitForSelector('table.deadletters', { state: 'detached' })
    await expect.poll(async () => await page.textContent('[data-subscription=audit] [data-stat=deadLettered] .value'), WAIT).toBe('0')
    const again = await gw.request<{ value: Array<{ event: { id: string } }> }>('POST', `${sub}:receive?maxEvents=1&maxWaitTime=10`)
    expect(again.body.value.map((v) => v.event.id)).toEqual(['o-5'])

    const definition = await page.inputValue('textarea[name=definition]')
    await page.fill('textarea[name=definition]', definition.replace('"maxDeliveryCount": 10', '"maxDeliveryCount": 3'))
    await page.click('form:has(textarea[name=definition]) button[type=submit]')
    await expect.poll(async () => (await gw.request<{ properties: { deliveryConfiguration: { queue: { maxDeliveryCount: number } } } }>('GET', sub)).body.properties.deliveryConfiguration.queue.maxDeliveryCount, WAIT).toBe(3)
  })

  it('shows the ingest rate of live telemetry on the overview', async () => {
    await open('#/overview')
    const d = device as MqttClient
    let t = 20
    // A steady trickle of readings while the overview samples (pacing a load, not a wait).
    const load = setInterval(() => { void d.publishAsync('devices/sensor-1/telemetry', JSON.stringify({ temperature: t += 0.25 }), { qos: 1 }) }, 50)
    try {
      await expect.poll(async () => Number.parseFloat(await page.textContent('[data-stat=ingest] .value') ?? '0'), WAIT).toBeGreaterThan(5)
      expect(await page.textContent('[data-stat=devices] .value')).toBe('1')
      // A few seconds of the rate on the chart (this page is the README's screenshot).
      await expect.poll(async () => Number(await page.getAttribute('.chart', 'data-samples')), WAIT).toBeGreaterThanOrEqual(6)
    } finally {
      clearInterval(load)
    }
    await shot('overview-live')
  })

  it("edits a device's attributes, and revokes it: its connection is closed and it leaves the list", async () => {
    await open('#/devices/sensor-1')
    await page.fill('input[name=deviceAttributes]', '{"site":"bergen"}')
    await page.click('form:has(input[name=deviceAttributes]) button[type=submit]')
    await expect.poll(async () => (await gw.request<{ attributes: unknown }>('GET', '/devices/sensor-1')).body.attributes, WAIT).toEqual({ site: 'bergen' })

    const closed = new Promise<void>((resolve) => { (device as MqttClient).once('close', () => resolve()) })
    await page.click('button[name=revoke]')
    await page.click('button[name=confirmRevoke]')
    await page.waitForSelector('tr[data-device="sensor-1"]', { state: 'detached' })
    await within(closed, { timeoutMs: WAIT.timeout, what: "the revoked device's connection to close" })
    expect((await gw.request('GET', '/devices/sensor-1')).status).toBe(404)
  })

  it('sends the key only in the Authorization header: never in an address or the log', async () => {
    const api = requests.filter((r) => r.url.startsWith(url) && !/^\/(console\/[^/]+)?(#.*)?$/.test(r.url.slice(url.length)))
    expect(api.length).toBeGreaterThan(10)
    for (const r of api) expect(r.authorization, r.url).toMatch(/^SharedAccessKey /)
    expect(requests.filter((r) => r.url.includes(TEST_KEY))).toEqual([])
    expect(Buffer.concat(logged).toString()).not.toContain(TEST_KEY)
  })
})
