import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startReadApi, type ReadApi } from '../src/api/server.ts'
import { identityIdFromSeed } from '../src/index.ts'
import { METRIC } from '../src/metrics/index.ts'
import type { StoredBlock } from '../src/codec/types.ts'
import { markWriteFailed } from '../src/storage/level.ts'
import { openTestStore, quietLogger } from './helpers/store.ts'
import { until } from './helpers/wait.ts'

let t: Awaited<ReturnType<typeof openTestStore>>
let api: ReadApi
let offline: Awaited<ReturnType<typeof openTestStore>>
let offlineApi: ReadApi
let stored: StoredBlock[]
let firstFrom: string

const get = async (path: string, init: RequestInit = {}, base = api.url): Promise<Response> => await fetch(base + path, init)
const json = async (path: string, base = api.url): Promise<any> => { const r = await get(path, {}, base); expect(r.headers.get('content-type')).toMatch(/^application\/json/); return await r.json() }

/** Value of one series in Prometheus text format (first match of name and labels), or undefined. */
function sample (text: string, name: string, labels = ''): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue
    const [key, value] = line.split(' ')
    if (key === name + labels || (labels === '' && key === name)) return Number(value)
  }
  return undefined
}

beforeAll(async () => {
  // a node with replication on (alone), p99 alert threshold low enough to fire
  t = await openTestStore({
    network: { enabled: true, seed: 'api-node', writers: [identityIdFromSeed('api-node')] },
    alerts: { p99LatencyMs: 0.000001, replicationLagHeights: 1000, intervalMs: 50 }
  })
  const blocks = t.chain.take(5, t.store.config.limits)
  firstFrom = blocks[0].transactions[0].from
  stored = await t.store.storeBlocks(blocks)
  for (let i = 0; i < 25; i++) await t.store.getBlock(i % 5)
  await t.store.replication!.putValidator('val-1', { stake: '100', status: 'active', lastSeen: 1, score: { count: 3, mean: 0.7, min: 0.5, max: 0.9 } })
  api = await startReadApi(t.store, { host: '127.0.0.1', port: 0, logger: quietLogger })
  offline = await openTestStore()
  offlineApi = await startReadApi(offline.store, { host: '127.0.0.1', port: 0, logger: quietLogger })
})

afterAll(async () => {
  await api?.close()
  await offlineApi?.close()
  await t?.cleanup()
  await offline?.cleanup()
})

describe('HTTP API routes', () => {
  it('GET /healthz and /readyz: 200 with the network off; a networked node is live but not ready alone, ready once a peer connects; 503 after stop', async () => {
    for (const path of ['/healthz', '/readyz']) {
      const r = await get(path, {}, offlineApi.url)
      expect(r.status).toBe(200)
      expect(await r.json()).toMatchObject({ status: 'ok', live: true, ready: true, reasons: [] })
    }
    expect((await get('/healthz')).status).toBe(200)
    const alone = await get('/readyz')
    expect(alone.status).toBe(503)
    expect(await alone.json()).toMatchObject({ status: 'unavailable', live: true, ready: false, reasons: ['no peer connected'], network: { connectedPeers: 0 } })
    const peer = await openTestStore({ network: { enabled: true, seed: 'api-peer', writers: [identityIdFromSeed('api-node')], peers: t.store.replication!.addresses() } })
    try {
      await until(async () => (await get('/readyz')).status === 200, 20_000, '/readyz to turn 200 once a peer is connected')
      expect(await json('/readyz')).toMatchObject({ ready: true, network: { connectedPeers: 1, lag: 0 } })
    } finally { await peer.cleanup() }
    const gone = await openTestStore()
    const goneApi = await startReadApi(gone.store, { host: '127.0.0.1', port: 0, logger: quietLogger })
    try {
      await gone.store.stop()
      const r = await get('/healthz', {}, goneApi.url)
      expect(r.status).toBe(503)
      expect(await r.json()).toMatchObject({ live: false, reasons: ['the store is stopped'] })
    } finally { await goneApi.close(); await gone.cleanup() }
  })

  it('GET /status: head, finality, pins, disk, caches, latencies and alerts', async () => {
    const s = await json('/status')
    expect(s.head.height).toBe(4)
    expect(s.head.cid).toBe(stored[4].cid.toString())
    expect(s.finalized).toBe(-1)
    expect(s.pins).toEqual({ queued: 0, pinning: 0, failed: 0 })
    expect(s.approximateBytes).toBeTypeOf('number')
    expect(s.fetchCache.maxBytes).toBeGreaterThan(0)
    expect(s.latencyMs.getBlock.count).toBeGreaterThanOrEqual(25)
    expect(s.network.connectedPeers).toBe(0)
    // what another node, or a stock OrbitDB app, opens to follow this network
    expect(s.network.databases).toEqual(t.store.replication!.addressesOfDatabases())
    expect(s.network.databases.chain).toMatch(/^\/orbitdb\/zdpu/)
    expect(s.network.discovery).toEqual({ known: expect.any(Number), heard: expect.any(Number), dialled: expect.any(Number) })
    expect(s.network.signatureChecks.checked).toBeTypeOf('number')
    // the p99 threshold is below any real latency: the alert fires within an interval
    let alerts: any[] = []
    for (let i = 0; i < 100 && alerts.length === 0; i++) { await new Promise(resolve => setTimeout(resolve, 50)); alerts = (await json('/status')).alerts }
    expect(alerts).toEqual([expect.objectContaining({ name: 'p99-latency', threshold: 0.000001 })])
    expect(alerts[0].message).toMatch(/^p99 of \w+ is/)
  })

  it('the p99 alert covers a time window: it fires on slow calls and clears once they age out of the window on an idle node', async () => {
    const n = await openTestStore({ alerts: { p99LatencyMs: 0.000001, intervalMs: 50, windowMs: 1500 } })
    try {
      await n.store.storeBlocks(n.chain.take(2, n.store.config.limits))
      for (let i = 0; i < 25; i++) await n.store.getBlock(i % 2)
      await until(async () => (await n.store.status()).alerts.some(a => a.name === 'p99-latency'), 5_000, 'the p99 alert to fire')
      await until(async () => (await n.store.status()).alerts.length === 0, 10_000, 'the p99 alert to clear once the calls are older than the window')
      expect(n.store.metrics.latencies().getBlock).toBeUndefined()
    } finally { await n.cleanup() }
  })

  it('a transaction id under another hash function or codec, with a stored transaction\'s digest, is 404, not a damaged record (500)', async () => {
    const { CID } = await import('multiformats/cid')
    const Digest = await import('multiformats/hashes/digest')
    const id = stored[2].txIds[0]
    for (const other of [CID.createV1(id.code, Digest.create(0xb220, id.multihash.digest)), CID.createV1(0x55, id.multihash)]) {
      for (const path of [`/tx/${other.toString()}`, `/tx/${other.toString()}/receipt`]) {
        const r = await get(path)
        expect(r.status, path).toBe(404)
        expect((await r.json() as any).error).toBe('TransactionNotFoundError')
      }
    }
  })

  it('GET /blocks/:heightOrCid, /tx/:id, /tx/:id/receipt, /address/:addr/history (paginated)', async () => {
    const byHeight = await json('/blocks/2')
    const byCid = await json(`/blocks/${stored[2].cid.toString()}`)
    expect(byHeight).toEqual(byCid)
    expect(byHeight.txIds.length).toBeGreaterThan(0)
    const txId = stored[2].txIds[0].toString()
    expect((await json(`/tx/${txId}`))).toMatchObject({ id: txId, height: 2, index: 0 })
    expect((await json(`/tx/${txId}/receipt`)).receipt.status).toBeTypeOf('number')
    const page1 = await json(`/address/${firstFrom}/history?limit=1`)
    expect(page1.items).toHaveLength(1)
    expect(page1.cursor).toBeTypeOf('string')
    const page2 = await json(`/address/${firstFrom}/history?limit=1&cursor=${encodeURIComponent(page1.cursor)}`)
    expect(page2.items[0].id).not.toBe(page1.items[0].id)
  })

  it('GET /peers, /validators, /reputation, /pins', async () => {
    expect(await json('/peers')).toEqual([])
    expect(await json('/validators')).toEqual([{ id: 'val-1', state: expect.objectContaining({ stake: '100', status: 'active' }) }])
    expect(await json('/reputation')).toBeTypeOf('object')
    const pins = await json('/pins?limit=2')
    expect(pins).toHaveLength(2)
    expect(pins[0]).toMatchObject({ reasons: ['chain'], state: 'pinned' })
  })

  it('typed errors map to 400, 404 and 503 with a body that says what went wrong', async () => {
    const cases: Array<[string, number, string, RegExp]> = [
      ['/blocks/99', 404, 'BlockNotFoundError', /no block at height 99/],
      ['/blocks/not-a-cid', 400, 'InvalidCidError', /block/],
      ['/tx/nope', 400, 'InvalidCidError', /./],
      [`/tx/${stored[0].cid.toString()}`, 404, 'TransactionNotFoundError', /./],
      [`/address/${firstFrom}/history?limit=0`, 400, 'InvalidQueryError', /limit: expected an integer 1-1000/],
      [`/address/${firstFrom}/history?limit=5000`, 400, 'InvalidQueryError', /limit/],
      ['/address/not-an-address/history', 400, 'InvalidAddressError', /./],
      ['/pins?state=lost', 400, 'InvalidQueryError', /state: expected one of queued, pinning, pinned, failed/],
      ['/pins?limit=x', 400, 'InvalidQueryError', /limit/],
      ['/no/such/route', 404, 'NotFound', /no route \/no\/such\/route/]
    ]
    for (const [path, status, error, message] of cases) {
      const res = await get(path)
      expect(res.status, path).toBe(status)
      const body = await res.json() as any
      expect(body.error, path).toBe(error)
      expect(body.message, path).toMatch(message)
    }
    for (const path of ['/peers', '/validators', '/reputation']) {
      const res = await get(path, {}, offlineApi.url)
      expect(res.status).toBe(503)
      expect(await res.json()).toMatchObject({ error: 'NetworkDisabledError', message: expect.stringMatching(/network.enabled is false/) })
    }
  })

  it('refuses writes and oversized requests', async () => {
    const post = await get('/status', { method: 'POST', body: 'x' })
    expect(post.status).toBe(405)
    expect(await post.json()).toMatchObject({ error: 'MethodNotAllowed' })
    const long = await get(`/blocks/${'b'.repeat(500)}`)
    expect(long.status).toBe(414)
    expect(await long.json()).toEqual({ error: 'UriTooLong', message: 'a path parameter is longer than 200 characters' })
    const big = await get('/ipfs/bafkqaaa', { method: 'POST', body: JSON.stringify({ pad: 'x'.repeat(64 * 1024) }), headers: { 'content-type': 'application/json' } })
    expect(big.status).toBe(413)
    expect(await big.json()).toMatchObject({ error: 'FST_ERR_CTP_BODY_TOO_LARGE' })
  })
})

describe('GET /metrics', () => {
  it('serves Prometheus text with the named metrics, and they move with the store', async () => {
    const res = await get('/metrics')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
    const text = await res.text()
    for (const name of Object.values(METRIC)) expect(text, name).toContain(`# TYPE ${name} `)
    expect(text).toContain('# TYPE nodejs_eventloop_lag_seconds gauge')
    expect(sample(text, METRIC.HEAD_HEIGHT)).toBe(4)
    expect(sample(text, METRIC.BLOCKS_STORED)).toBe(5)
    expect(sample(text, `${METRIC.OPERATION_SECONDS}_count`, '{op="getBlock"}')).toBeGreaterThanOrEqual(25)
    expect(sample(text, METRIC.PINS, '{state="pinned"}')).toBeGreaterThanOrEqual(5)
    expect(sample(text, METRIC.PEERS_CONNECTED)).toBe(0)
    expect(sample(text, METRIC.ALERT_ACTIVE, '{alert="p99-latency"}')).toBe(1)
    expect(sample(text, METRIC.ALERT_ACTIVE, '{alert="disk-usage"}')).toBe(0)
    expect(sample(text, METRIC.CACHE_HITS, '{tier="memory"}')).toBeGreaterThan(0)

    await t.store.storeBlocks(t.chain.take(2, t.store.config.limits))
    await t.store.gc()
    const after = await (await get('/metrics')).text()
    expect(sample(after, METRIC.HEAD_HEIGHT)).toBe(6)
    expect(sample(after, METRIC.BLOCKS_STORED)).toBe(7)
    expect(sample(after, METRIC.GC_RUNS)).toBe(1)
    // metric names follow Prometheus conventions
    for (const name of Object.values(METRIC)) expect(name).toMatch(/^chainstore_[a-z_]+$/)
  })
})

describe('dashboard routes', () => {
  it('serves the page, its assets and its JSON', async () => {
    const page = await get('/')
    expect(page.headers.get('content-type')).toMatch(/^text\/html/)
    expect(await page.text()).toContain('<script src="/dashboard.js">')
    expect((await get('/dashboard.js')).headers.get('content-type')).toMatch(/^text\/javascript/)
    expect((await get('/dashboard.css')).headers.get('content-type')).toMatch(/^text\/css/)
    const d = await json('/api/dashboard')
    expect(d.head.height).toBeGreaterThanOrEqual(4)
    expect(d.pins.pinned).toBeGreaterThan(0)
    expect(d.validators[0]).toMatchObject({ id: 'val-1', score: { mean: 0.7 } })
    expect(Array.isArray(d.rates)).toBe(true)
  })
})

describe('dashboard with attestations', () => {
  it('charts validator score trends from the attestation rollups', async () => {
    const { randomBytes } = await import('node:crypto')
    const { commitSample } = await import('../src/attestations/index.ts')
    process.env.CHAINSTORE_MASTER_KEY_DASH = randomBytes(32).toString('hex')
    const a = await openTestStore({ attestations: { enabled: true, masterKeyEnv: 'CHAINSTORE_MASTER_KEY_DASH' } })
    const server = await startReadApi(a.store, { host: '127.0.0.1', port: 0, logger: quietLogger })
    try {
      const now = Date.now()
      await a.store.attestations!.ingest(Array.from({ length: 30 }, (_, i) => ({
        validator: 'val-trend', height: i + 1, timestamp: now - (30 - i) * 60_000, score: i / 30,
        commitment: commitSample(new TextEncoder().encode(`s${i}`), new Uint8Array(32).fill(5))
      })))
      const d = await json('/api/dashboard', server.url)
      const v = d.validators.find((x: any) => x.id === 'val-trend')
      expect(v.status).toBe('attesting')
      expect(v.trend.length).toBeGreaterThanOrEqual(29)
      expect(v.trend[v.trend.length - 1].mean).toBeGreaterThan(v.trend[0].mean)
    } finally {
      await server.close()
      await a.cleanup()
    }
  })

  it('a store whose LevelDB write failed refuses every write path, says why in /status and turns /healthz 503; a reopen makes it writable', async () => {
    const f = await openTestStore()
    const server = await startReadApi(f.store, { host: '127.0.0.1', port: 0, logger: quietLogger })
    try {
      await f.store.storeBlocks(f.chain.take(2, f.store.config.limits))
      const kv = f.store.kv('notes')
      await kv.put('before', { ok: true })
      // what classic-level rejects a write with when write(2) fails (the fault suite injects the real one with strace)
      markWriteFailed(f.store.maintenance().db, Object.assign(new Error('IO error: 000005.log: Input/output error'), { code: 'LEVEL_IO_ERROR' }))
      const refused = f.chain.take(1, f.store.config.limits)
      await expect(f.store.storeBlocks(refused)).rejects.toMatchObject({ name: 'WriteFailedError' })
      await expect(f.store.putBytes(new TextEncoder().encode('blob'))).rejects.toMatchObject({ name: 'WriteFailedError' })
      await expect(kv.put('after', { ok: true })).rejects.toMatchObject({ name: 'WriteFailedError' })
      // a write straight to a sublevel, outside the store's batches, is refused too
      const elsewhere = f.store.maintenance().db.sublevel('elsewhere')
      await expect(elsewhere.put('k', 'v')).rejects.toMatchObject({ name: 'WriteFailedError' })
      await expect(elsewhere.clear()).rejects.toMatchObject({ name: 'WriteFailedError' })
      const chained = elsewhere.batch()
      chained.put('k', 'v')
      await expect(chained.write()).rejects.toMatchObject({ name: 'WriteFailedError' })
      const rootChained = f.store.maintenance().db.batch()
      rootChained.put(new Uint8Array([0xfe, 1]), new Uint8Array([1]))
      await expect(rootChained.write()).rejects.toMatchObject({ name: 'WriteFailedError' })
      const status = await json('/status', server.url)
      expect(status.writesRefused).toMatch(/LevelDB write failed \(IO error: 000005\.log/)
      const health = await get('/healthz', {}, server.url)
      expect(health.status).toBe(503)
      expect(await health.json()).toMatchObject({ live: false, reasons: [expect.stringMatching(/restart to reopen/)] })
      // reads still work, and what was acknowledged is there
      expect(f.store.head()?.height).toBe(1)
      expect(await kv.get('before')).toEqual({ ok: true })
      await server.close()
      await f.store.stop()
      const reopened = await f.reopen()
      expect((await reopened.status()).writesRefused).toBeNull()
      expect(reopened.health().live).toBe(true)
      await reopened.storeBlocks(refused)
      expect(reopened.head()?.height).toBe(2)
    } finally {
      await server.close().catch(() => {})
      await f.cleanup()
    }
  })
})
