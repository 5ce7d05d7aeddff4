import { existsSync } from 'node:fs'
import { copyFile, mkdir, stat } from 'node:fs/promises'
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

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: the dashboard test needs Debian's chromium (apt-get install chromium; .ci/run installs it)`)
  dir = await tempDir('chainstore-dashboard-')
  const writers = [identityIdFromSeed('dash-writer')]
  const base = { logLevel: 'error' as const, api: { host: '127.0.0.1', port: 0 } }
  writer = await PeerProcess.start({ ...base, dataDir: join(dir.dir, 'writer'), network: { enabled: true, seed: 'dash-writer', writers, intervalMs: 300 } }, { api: true, stdio: 'ignore' })
  const info = await writer.call('info')
  url = info.api
  replica = await PeerProcess.start({ ...base, dataDir: join(dir.dir, 'replica'), network: { enabled: true, seed: 'dash-replica', writers, peers: [info.addresses[0]], intervalMs: 300 } }, { api: true, stdio: 'ignore' })
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
    expect(Number((await page.textContent('#ingest'))!.replace(/\/s$/, ''))).toBeGreaterThan(0)
    // the screenshot while blocks still arrive
    await mkdir(ARTIFACTS, { recursive: true })
    const shot = join(ARTIFACTS, 'dashboard.png')
    await page.screenshot({ path: shot, fullPage: true })
    expect((await stat(shot)).size).toBeGreaterThan(20_000)
    if (process.env.CHAINSTORE_UPDATE_SCREENSHOT === '1') await copyFile(shot, join('docs', 'dashboard.png'))
    await ingest

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
