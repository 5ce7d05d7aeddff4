import { existsSync } from 'node:fs'
import { copyFile, mkdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chromium, type Browser } from 'playwright-core'
import { PeerProcess } from '../src/devnet/controller.ts'
import { identityIdFromSeed } from '../src/index.ts'
import { tempDir } from './helpers/store.ts'

/** The page's global, inside the functions playwright runs in the browser. */
declare const document: any

/** Debian's chromium, installed by .ci/run (apt-get install chromium). */
const CHROMIUM = '/usr/bin/chromium'
/** Where the test leaves its screenshot; `CHAINSTORE_UPDATE_SCREENSHOT=1` also copies it to docs/ for docs/OPERATIONS.md. */
const ARTIFACTS = join('test', 'artifacts')

let dir: { dir: string, cleanup: () => Promise<void> }
let writer: PeerProcess
let replica: PeerProcess
let browser: Browser
let url: string
let replicaUrl: string

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: the dashboard test needs Debian's chromium (apt-get install chromium; .ci/run installs it)`)
  dir = await tempDir('chainstore-dashboard-')
  const writers = [identityIdFromSeed('dash-writer')]
  const base = { logLevel: 'error' as const, api: { host: '127.0.0.1', port: 0 } }
  writer = await PeerProcess.start({ ...base, dataDir: join(dir.dir, 'writer'), network: { enabled: true, seed: 'dash-writer', writers, intervalMs: 300 } }, { api: true, stdio: 'ignore' })
  const info = await writer.call('info')
  url = info.api
  replica = await PeerProcess.start({ ...base, dataDir: join(dir.dir, 'replica'), network: { enabled: true, seed: 'dash-replica', writers, peers: [info.addresses[0]], intervalMs: 300 } }, { api: true, stdio: 'ignore' })
  replicaUrl = (await replica.call('info')).api
  await writer.call('putValidator', { id: 'validator-a', state: { stake: '5000', status: 'active', lastSeen: Date.now(), score: { count: 10, mean: 0.62, min: 0.4, max: 0.8 } } })
  await writer.call('putValidator', { id: 'validator-b', state: { stake: '3000', status: 'active', lastSeen: Date.now(), score: { count: 10, mean: 0.48, min: 0.3, max: 0.7 } } })
  await writer.call('ingest', { count: 20, txs: 50 })
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] })
}, 120_000)

afterAll(async () => {
  await browser?.close()
  await replica?.stop()
  await writer?.stop()
  await dir?.cleanup()
})

describe('dashboard in a real browser', () => {
  it('shows the node live: figures appear, change as blocks are ingested, and a screenshot is saved', async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 960 } })
    const errors: string[] = []
    page.on('pageerror', err => errors.push(err.message))
    // the page may only talk to the node that served it
    const foreign: string[] = []
    page.on('request', req => { if (!req.url().startsWith(url)) foreign.push(req.url()) })
    await page.goto(url + '/')
    await page.waitForFunction(() => document.getElementById('conn')?.textContent === 'live', undefined, { timeout: 15_000 })
    const headBefore = Number((await page.textContent('#head'))!.replace(/,/g, ''))
    expect(headBefore).toBeGreaterThanOrEqual(19)

    // ingest while the page watches: the head moves and the throughput chart draws lines
    const ingest = writer.call('ingest', { count: 60, txs: 50, ratePerSec: 20 })
    await page.waitForFunction((before) => Number(document.getElementById('head')!.textContent!.replace(/,/g, '')) >= before + 30, headBefore, { timeout: 30_000 })
    await page.waitForFunction(() => document.querySelectorAll('#rate-chart path').length >= 3, undefined, { timeout: 15_000 })
    expect(Number((await page.textContent('#ingest'))!.replace(/,/g, ''))).toBeGreaterThan(0)
    // the chart has axes: blocks/s on the left, tx/s on its own scale on the right, time along the bottom
    const labels = await page.locator('#rate-chart text').allTextContents()
    expect(labels).toEqual(expect.arrayContaining(['blocks/s', 'tx/s', 'now']))
    expect(labels.some(l => /^−\d+ s$/.test(l))).toBe(true)
    // three series that can be told apart: two colours solid, transactions dashed
    const strokes = await page.locator('#rate-chart path').evaluateAll(ps => ps.map((p: any) => `${p.getAttribute('stroke')} ${p.getAttribute('stroke-dasharray') ?? 'solid'}`))
    expect(new Set(strokes).size).toBe(3)
    // the node card: version, uptime, data dir, network and its addresses
    const node = (await page.textContent('#node'))!
    expect(node).toContain(JSON.parse(await readFile('package.json', 'utf8')).version)
    expect(node).toMatch(/uptime.*\d/)
    expect(node).toContain(join(dir.dir, 'writer'))
    expect(node).toMatch(/network\s*on/)
    expect(node).toContain('/ip4/127.0.0.1/tcp/')
    const icon = await fetch(url + '/favicon.ico')
    expect(icon.status).toBe(200)
    expect(icon.headers.get('content-type')).toBe('image/svg+xml')
    expect(await page.locator('link[rel=icon]').getAttribute('href')).toBe('/favicon.svg')
    // the screenshot while blocks still arrive
    await mkdir(ARTIFACTS, { recursive: true })
    const shot = join(ARTIFACTS, 'dashboard.png')
    await page.screenshot({ path: shot, fullPage: true })
    expect((await stat(shot)).size).toBeGreaterThan(20_000)
    if (process.env.CHAINSTORE_UPDATE_SCREENSHOT === '1') await copyFile(shot, join('docs', 'dashboard.png'))
    await ingest
    // a replica counts what it imports once: its ingest tile is all replicated, nothing written locally
    const other = await browser.newPage({ viewport: { width: 1440, height: 960 } })
    other.on('pageerror', err => errors.push(err.message))
    await other.goto(replicaUrl + '/')
    await other.waitForFunction(() => document.getElementById('conn')?.textContent === 'live', undefined, { timeout: 15_000 })
    const replicaIngest = writer.call('ingest', { count: 40, txs: 50, ratePerSec: 20 })
    await other.waitForFunction(() => Number(document.getElementById('ingest')!.textContent!.replace(/,/g, '')) > 0, undefined, { timeout: 20_000 })
    const tile = Number((await other.textContent('#ingest'))!.replace(/,/g, ''))
    const sub = (await other.textContent('#ingest-tx'))!
    const [, here, replicated] = /^([\d.,]+) written here · ([\d.,]+) replicated/.exec(sub)!.map(x => Number(String(x).replace(/,/g, '')))
    expect(here).toBe(0)
    expect(replicated).toBeCloseTo(tile, 1)
    expect(tile).toBeLessThan(40) // the writer sends 20 blocks/s: a double count would read ~40
    await replicaIngest
    await other.close()

    // the replica shows up with its head, lag and reputation once a replication tick asked it
    await page.waitForFunction(() => (document.querySelector('#peers tbody tr td:nth-child(2)')?.textContent ?? '–') !== '–', undefined, { timeout: 20_000 })
    expect(await page.locator('#peers tbody tr').count()).toBe(1)
    expect(await page.textContent('#peers-count')).toBe('1')
    // pins, caches, latencies, validators with their scores
    // pin counts are a key scan the node refreshes every 10 s
    await page.waitForFunction(() => Number(document.querySelector('#pins .row:first-child .num')?.textContent?.replace(/,/g, '') ?? 0) >= 80, undefined, { timeout: 20_000 })
    expect(await page.textContent('#caches')).toContain('memory tier hit rate')
    expect(await page.locator('#latency tbody tr').count()).toBeGreaterThan(0)
    await page.waitForFunction(() => document.querySelectorAll('#validators tbody tr').length === 2, undefined, { timeout: 10_000 })
    expect(await page.textContent('#validators tbody')).toContain('0.62')
    expect(await page.textContent('#disk')).toMatch(/iB$/)

    expect(errors).toEqual([])
    expect(foreign).toEqual([])
  }, 120_000)
})
