import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { cidOf, RAW } from '../src/codec/cid.ts'
import { linksOf } from '../src/codec/links.ts'
import type { ChainStore } from '../src/index.ts'
import { startReadApi } from '../src/api/server.ts'
import type { PinRecord } from '../src/pinning/records.ts'
import type { GcSummary } from '../src/pinning/gc.ts'
import type { CID } from 'multiformats/cid'
import { closeTestGateways, testGateway } from './helpers/gateway.ts'
import { openTestStore, quietLogger } from './helpers/store.ts'

afterEach(closeTestGateways)

/** Polls until `check` returns a value, or fails after `ms`. */
async function until<T> (check: () => Promise<T | undefined> | T | undefined, ms = 15_000): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const v = await check()
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise(resolve => setTimeout(resolve, 25))
  }
}

async function pinOf (store: ChainStore, cid: CID): Promise<PinRecord | undefined> {
  for await (const p of store.pins()) if (p.cid.equals(cid)) return p
  return undefined
}

/** Every block of a DAG as the map a test gateway serves. */
function dagBlocks (store: ChainStore, root: CID): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>()
  const stack = [root]
  while (stack.length > 0) {
    const cid = stack.pop()!
    const bytes = store.localBytes(cid)!
    out.set(cid.toString(), bytes)
    stack.push(...(linksOf(cid, bytes) ?? []))
  }
  return out
}

async function fileLength (store: ChainStore, cid: CID): Promise<number> {
  let n = 0
  for await (const chunk of store.cat(cid)) n += chunk.length
  return n
}

describe('pin states', () => {
  let cleanup: (() => Promise<void>) | undefined
  afterEach(async () => { await cleanup?.(); cleanup = undefined })

  it('an identity CID pins at once with nothing stored or fetched (its bytes are the CID), and so does a DAG that links one', async () => {
    const t = await openTestStore()
    try {
      const { CID } = await import('multiformats/cid')
      const { identity } = await import('multiformats/hashes/identity')
      const dagCbor = await import('@ipld/dag-cbor')
      const inline = CID.createV1(RAW, identity.digest(new TextEncoder().encode('inline bytes')))
      const pinned = await t.store.pin(inline, { wait: true })
      expect(pinned.state).toBe('pinned')
      const chunks: Uint8Array[] = []
      for await (const c of t.store.blockstore.get(inline)) chunks.push(c)
      expect(new TextDecoder().decode(Buffer.concat(chunks))).toBe('inline bytes')
      const root = await t.store.putBytes(dagCbor.encode({ child: inline }), { codec: 'dag-cbor' })
      expect((await t.store.pin(root, { wait: true })).state).toBe('pinned')
    } finally {
      await t.cleanup()
    }
  })

  it('a pin waiting on the network goes queued → pinning → pinned, resumes after a restart, and ends failed when nothing serves it', async () => {
    const a = await openTestStore()
    const file = await a.store.addFile(new Uint8Array(700_000).map((_, i) => (i * 13) % 256))
    const gw = await testGateway('stall', dagBlocks(a.store, file))
    const gateways = { enabled: true, urls: [gw.url], timeoutMs: 400, stallMs: 300 }
    const b = await openTestStore({ gateways })
    cleanup = async () => { await a.cleanup(); await b.cleanup() }

    const queued = await b.store.pin(file, { wait: false })
    expect(['queued', 'pinning']).toContain(queued.state)
    expect(queued.reasons).toEqual(['user'])
    await until(async () => (await pinOf(b.store, file))?.state === 'pinning' ? true : undefined)
    expect((await b.store.status()).pins).toMatchObject({ pinning: 1 })
    const listed = []
    for await (const p of b.store.pins({ state: 'pinning' })) listed.push(p.cid.toString())
    expect(listed).toEqual([file.toString()])

    // stop mid-fetch; the next open resumes the job and the gateway now answers
    await b.store.stop()
    gw.set('honest')
    const back = await b.reopen()
    const pinned = await until(async () => { const p = await pinOf(back, file); return p?.state === 'pinned' ? p : undefined })
    expect(pinned.error).toBeUndefined()
    expect(await fileLength(back, file)).toBe(700_000)
    expect((await back.gc()).incompletePins).toBe(0)
    expect(await fileLength(back, file)).toBe(700_000)
    expect((await back.status()).pins).toEqual({ queued: 0, pinning: 0, failed: 0 })

    // a root nobody has: every attempt fails, the record says failed and why
    const nowhere = cidOf(new TextEncoder().encode('nobody has this'), RAW)
    await expect(back.pin(nowhere)).rejects.toMatchObject({ name: 'PinFailedError' })
    const failed = await pinOf(back, nowhere)
    expect(failed).toMatchObject({ state: 'failed', reasons: ['user'] })
    expect(failed!.error).toMatch(/no block/)
    expect((await back.status()).pins.failed).toBe(1)
    // a failed pin keeps nothing alive and goes with unpin
    expect(await back.unpin(nowhere)).toBe(true)
    expect(await pinOf(back, nowhere)).toBeUndefined()
    expect((await back.status()).pins.failed).toBe(0)
  })

  it('finality repins checkpoints the policy keeps once final, fetching back pages GC already collected', async () => {
    const a = await openTestStore()
    const blocks = a.chain.take(31, a.store.config.limits)
    await a.store.storeBlocks(blocks)
    const api = await startReadApi(a.store, { host: '127.0.0.1', port: 0, logger: quietLogger })
    const pinning = {
      preset: 'validator' as const,
      rules: [
        { kinds: ['header' as const] },
        { kinds: ['page' as const], window: 5 },
        { kinds: ['page' as const], checkpointEvery: 10, finalizedOnly: true }
      ]
    }
    const b = await openTestStore({ pinning, gateways: { enabled: true, urls: [api.url], timeoutMs: 5_000, stallMs: 1_000 } })
    cleanup = async () => { await api.close(); await a.cleanup(); await b.cleanup() }
    const store = b.store

    // finality while height 10 is still inside the window: it stays when the window moves on
    await store.storeBlocks(blocks.slice(0, 13))
    await store.setFinalized(12)
    expect(store.finalizedHeight()).toBe(12)
    await store.storeBlocks(blocks.slice(13))
    await store.gc()
    expect((await store.getBlock(10)).transactions.length).toBe(blocks[10].transactions.length)
    await expect(store.getBlock(9)).rejects.toThrow(/not stored here/)
    // height 20 is a checkpoint but not final yet: collected
    await expect(store.getBlock(20)).rejects.toThrow(/not stored here/)

    // finality reaches 20 after its pages went: a chain pin job fetches them back
    await store.setFinalized(25)
    const header20 = store.canonicalAt(20)!
    const record = await until(async () => { const p = await pinOf(store, header20); return p?.state === 'pinned' ? p : undefined })
    expect(record).toMatchObject({ reasons: ['chain'], recursive: true, height: 20 })
    await store.gc()
    expect((await store.getBlock(20)).transactions.length).toBe(blocks[20].transactions.length)
    await expect(store.getBlock(15)).rejects.toThrow(/not stored here/)
    await expect(store.getBlock(21)).rejects.toThrow(/not stored here/)

    // finality never passes the head, and persists
    await store.setFinalized(1000)
    expect(store.finalizedHeight()).toBe(30)
    await store.stop()
    const back = await b.reopen()
    expect(back.finalizedHeight()).toBe(30)
    expect((await back.getBlock(30)).header.height).toBe(30)
  })
})

describe('pins over gateways', () => {
  let cleanup: (() => Promise<void>) | undefined
  afterEach(async () => { await cleanup?.(); cleanup = undefined })

  it('a pin fetches a whole DAG in one CAR request; a gateway whose CAR does not verify is skipped and loses score', async () => {
    const a = await openTestStore()
    const file = await a.store.addFile(new Uint8Array(2_500_000).map((_, i) => (i * 11) % 256))
    const api = await startReadApi(a.store, { host: '127.0.0.1', port: 0, logger: quietLogger })
    // counts what reaches the honest gateway
    const seen: string[] = []
    const proxy = createServer((req, res) => {
      seen.push(req.url ?? '')
      void fetch(api.url + (req.url ?? ''), { headers: { accept: String(req.headers.accept ?? '') } }).then(async r => {
        res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/octet-stream' })
        res.end(Buffer.from(await r.arrayBuffer()))
      })
    })
    await new Promise<void>(resolve => proxy.listen(0, '127.0.0.1', resolve))
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`
    // answers every request with the root's raw bytes, flipped: never a valid CAR
    const liar = await testGateway('wrong-bytes', dagBlocks(a.store, file))
    const b = await openTestStore({ gateways: { enabled: true, urls: [liar.url, proxyUrl], timeoutMs: 5_000, stallMs: 1_000 } })
    cleanup = async () => { proxy.closeAllConnections(); proxy.close(); await api.close(); await a.cleanup(); await b.cleanup() }

    const record = await b.store.pin(file)
    expect(record.state).toBe('pinned')
    expect(seen).toEqual([`/ipfs/${file.toString()}?format=car&dag-scope=all`])
    expect(liar.hits()).toBe(1)
    expect(await fileLength(b.store, file)).toBe(2_500_000)
    expect((await b.store.gc()).incompletePins).toBe(0)
  })
})

describe('fetch cache tier', () => {
  let cleanup: (() => Promise<void>) | undefined
  afterEach(async () => { await cleanup?.(); cleanup = undefined })

  it('keeps fetched blocks unpinned under a byte budget, evicts by LRU, counts it, hands blocks to pins, and survives GC and restarts', async () => {
    const a = await openTestStore()
    const cids: CID[] = []
    for (let i = 0; i < 12; i++) cids.push(await a.store.putBytes(new Uint8Array(10_000).fill(i + 1)))
    const api = await startReadApi(a.store, { host: '127.0.0.1', port: 0, logger: quietLogger })
    const b = await openTestStore({ cache: { fetchedMaxBytes: 35_000 }, gateways: { enabled: true, urls: [api.url], timeoutMs: 5_000, stallMs: 1_000 } })
    cleanup = async () => { await api.close(); await a.cleanup(); await b.cleanup() }
    const store = b.store
    const present = (i: number): boolean => store.localBytes(cids[i]) != null

    for (let i = 0; i < 5; i++) await store.getBytes(cids[i])
    let s = (await store.status()).fetchCache
    expect(s).toMatchObject({ admitted: 5, evicted: 2, bytesEvicted: 20_000, entries: 3, bytes: 30_000, maxBytes: 35_000 })
    expect([0, 1, 2, 3, 4].map(present)).toEqual([false, false, true, true, true])

    // a read makes a block most recent: the next admission evicts 3, not 2
    await store.getBytes(cids[2])
    await store.getBytes(cids[5])
    expect([2, 3, 4, 5].map(present)).toEqual([true, false, true, true])
    expect((await store.status()).fetchCache.hits).toBe(1)

    // a pin takes a cached block over: no later eviction touches it
    await store.pin(cids[4])
    for (let i = 6; i < 10; i++) await store.getBytes(cids[i])
    expect(present(4)).toBe(true)
    s = (await store.status()).fetchCache
    expect(s.claimed).toBe(1)
    expect(s.entries).toBe(3)
    expect([7, 8, 9].map(present)).toEqual([true, true, true])

    // GC keeps what the cache holds; nothing else here is unpinned
    const summary = await store.gc()
    expect(summary.deleted).toBe(0)
    expect([4, 7, 8, 9].map(present)).toEqual([true, true, true, true])

    // the tier comes back after a restart, oldest fetch evicted first
    await store.stop()
    const back = await b.reopen()
    expect((await back.status()).fetchCache).toMatchObject({ entries: 3, bytes: 30_000 })
    await back.getBytes(cids[10])
    expect(back.localBytes(cids[7])).toBeUndefined()
    expect(back.localBytes(cids[8])).toBeDefined()
  })

  it('a file import that reuses a cached block takes it out of the cache before the file pin holds it', async () => {
    // UnixFS chunks are 1 MiB raw leaves: this file has three
    const content = new Uint8Array(2_500_000).map((_, i) => (i * 31) % 256)
    const a = await openTestStore()
    const file = await a.store.addFile(content)
    const leaves = linksOf(file, a.store.localBytes(file)!)!
    const fillers: CID[] = []
    for (let i = 0; i < 4; i++) fillers.push(await a.store.putBytes(new Uint8Array(500_000).fill(i + 7)))
    const api = await startReadApi(a.store, { host: '127.0.0.1', port: 0, logger: quietLogger })
    const b = await openTestStore({ cache: { fetchedMaxBytes: 1_500_000 }, gateways: { enabled: true, urls: [api.url], timeoutMs: 5_000, stallMs: 1_000 } })
    cleanup = async () => { await api.close(); await a.cleanup(); await b.cleanup() }

    await b.store.getBytes(leaves[0])
    expect(leaves.length).toBe(3)
    expect((await b.store.status()).fetchCache.entries).toBe(1)
    const same = await b.store.addFile(content)
    expect(same.equals(file)).toBe(true)
    expect((await b.store.status()).fetchCache).toMatchObject({ claimed: 1, entries: 0 })
    // fill the cache well past its budget: evictions must not touch the file's leaf
    for (const f of fillers) await b.store.getBytes(f)
    expect((await b.store.status()).fetchCache.evicted).toBeGreaterThan(0)
    expect(await fileLength(b.store, file)).toBe(2_500_000)
    expect((await b.store.gc()).incompletePins).toBe(0)
    expect(await fileLength(b.store, file)).toBe(2_500_000)
  })
})

describe('scheduled gc', () => {
  let cleanup: (() => Promise<void>) | undefined
  afterEach(async () => { await cleanup?.(); cleanup = undefined })

  it('collects on its own once the blockstore passes the watermark, and compacts so the space comes back', async () => {
    const t = await openTestStore({
      level: { writeBufferSize: 1024 * 1024 },
      pinning: { preset: 'light', rules: [{ kinds: ['header'] }, { kinds: ['page'], window: 3 }] },
      gc: { storageMaxBytes: 4 * 1024 * 1024, watermarkPercent: 50, checkIntervalMs: 50 }
    }, { txsPerBlock: [100, 100] })
    cleanup = t.cleanup
    const ran = new Promise<GcSummary>(resolve => t.store.events.once('gc', resolve))
    for (let i = 0; i < 20; i++) await t.store.storeBlocks(t.chain.take(10, t.store.config.limits))
    const summary = await Promise.race([ran, new Promise<never>((resolve, reject) => setTimeout(() => reject(new Error('no scheduled gc within 20 s')), 20_000))])
    expect(summary.deleted).toBeGreaterThan(100)
    expect(summary.compactMs).toBeGreaterThanOrEqual(0)
    const after = await until(async () => { const b = await t.store.blockstoreBytes(); return b < 2 * 1024 * 1024 ? b : undefined })
    expect(after).toBeLessThan(2 * 1024 * 1024)
    // what the policy keeps is still there
    expect((await t.store.getBlock(199)).header.height).toBe(199)
    expect((await t.store.getHeader(5)).height).toBe(5)
  })
})
