import { afterEach, describe, expect, it } from 'vitest'
import type { CID } from 'multiformats/cid'
import { bytesMatchCid } from '../src/codec/cid.ts'
import { linksOf } from '../src/codec/links.ts'
import type { ChainStore } from '../src/index.ts'
import { identityIdFromSeed } from '../src/index.ts'
import { SyntheticChain } from '../src/synthetic/chain.ts'
import { openTestStore } from './helpers/store.ts'

/** Every pin's DAG present and hashing to its CIDs; returns how many blocks were checked. */
async function checkPinnedDags (store: ChainStore): Promise<{ pins: number, blocks: number, missing: string[] }> {
  let pins = 0
  let blocks = 0
  const missing: string[] = []
  for await (const pin of store.pins({ state: 'pinned' })) {
    pins++
    const stack = [pin.cid]
    const seen = new Set<string>()
    while (stack.length > 0) {
      const cid = stack.pop()!
      if (seen.has(cid.toString())) continue
      seen.add(cid.toString())
      const bytes = store.localBytes(cid)
      if (bytes == null || !bytesMatchCid(cid, bytes)) { missing.push(`${pin.cid.toString()} → ${cid.toString()}`); continue }
      blocks++
      if (pin.recursive) stack.push(...(linksOf(cid, bytes) ?? []))
    }
  }
  return { pins, blocks, missing }
}

describe('garbage collection', () => {
  let cleanup: (() => Promise<void>) | undefined
  afterEach(async () => { await cleanup?.(); cleanup = undefined })

  it('deletes exactly the unpinned blocks and keeps every pinned DAG whole', async () => {
    const t = await openTestStore()
    cleanup = t.cleanup
    const { store } = t
    await store.storeBlocks(t.chain.take(20, store.config.limits))
    const file = await store.addFile(new Uint8Array(3 * 1024 * 1024).map((_, i) => i % 251))
    const pinned = await store.putBytes(new TextEncoder().encode('keep me'))
    const loose = await store.putBytes(new TextEncoder().encode('drop me'), { pin: false })
    const cached = [{ cid: loose, bytes: new TextEncoder().encode('drop me') }]
    await store.putVerifiedBlocks(cached)
    const before = await checkPinnedDags(store)
    expect(before.missing).toEqual([])

    const summary = await store.gc()
    expect(summary.deleted).toBe(1)
    expect(summary.bytesFreed).toBe(7)
    expect(summary.incompletePins).toBe(0)
    expect(store.localBytes(loose)).toBeUndefined()
    expect(store.localBytes(pinned)).toBeDefined()
    const after = await checkPinnedDags(store)
    expect(after).toEqual(before)
    let length = 0
    for await (const chunk of store.cat(file)) length += chunk.length
    expect(length).toBe(3 * 1024 * 1024)
    expect((await store.getBlock(19)).transactions.length).toBeGreaterThan(0)

    // survives a restart and a second collection
    await store.stop()
    const again = await t.reopen()
    expect((await again.gc()).deleted).toBe(0)
    expect((await checkPinnedDags(again)).missing).toEqual([])
  })

  it('never loses a pinned block while writes, pins, unpins, gateway fetches with cache evictions and unpinned fills run concurrently with repeated collections', async () => {
    const { startReadApi } = await import('../src/api/server.ts')
    const { quietLogger } = await import('./helpers/store.ts')
    const { cidOf, RAW } = await import('../src/codec/cid.ts')
    // a source node whose gateway serves raw blocks and multi-block files
    const src = await openTestStore()
    const remote: CID[] = []
    for (let i = 0; i < 60; i++) remote.push(await src.store.putBytes(new Uint8Array(20_000).fill(i)))
    const files: CID[] = []
    for (let i = 0; i < 4; i++) files.push(await src.store.addFile(new Uint8Array(2_200_000).map((_, j) => (j * (i + 3)) % 256)))
    const api = await startReadApi(src.store, { host: '127.0.0.1', port: 0, logger: quietLogger })
    const t = await openTestStore({ cache: { fetchedMaxBytes: 100_000 }, gateways: { enabled: true, urls: [api.url], timeoutMs: 5_000, stallMs: 2_000 } })
    cleanup = async () => { await api.close(); await t.cleanup(); await src.cleanup() }
    const { store } = t
    const chain = new SyntheticChain({ txsPerBlock: [5, 30], addresses: 50, seed: 9 })
    const stopAt = Date.now() + 5_000
    let collections = 0
    let deleted = 0
    let pinned = 0
    const writers = [
      (async () => { while (Date.now() < stopAt) await store.storeBlocks(chain.take(3, store.config.limits)) })(),
      (async () => { let i = 0; while (Date.now() < stopAt) await store.addFile(new TextEncoder().encode(`file ${i++} `.repeat(5000))) })(),
      (async () => { let i = 0; while (Date.now() < stopAt) await store.putBytes(new TextEncoder().encode(`user ${i++}`), { pin: i % 2 === 0 }) })(),
      (async () => {
        let i = 0
        while (Date.now() < stopAt) {
          const bytes = new TextEncoder().encode(`cache ${i++}`)
          await store.putVerifiedBlocks([{ cid: cidOf(bytes, RAW), bytes }])
        }
      })(),
      // reads through the gateway: admitted to a 100 kB fetch cache, evicted all the time; every third one pinned, some unpinned again
      (async () => {
        let i = 0
        while (Date.now() < stopAt) {
          const cid = remote[(i * 7) % remote.length]
          await store.getBytes(cid)
          if (i % 3 === 0) { await store.pin(cid, { recursive: false }); pinned++ }
          if (i % 9 === 0) await store.unpin(remote[(i * 5) % remote.length])
          i++
        }
      })(),
      // whole files pinned from the gateway (blocks fetched by the pin job) and released
      (async () => {
        let i = 0
        while (Date.now() < stopAt) {
          await store.pin(files[i % files.length])
          if (i % 2 === 1) await store.unpin(files[(i + 1) % files.length])
          i++
        }
      })(),
      (async () => { while (Date.now() < stopAt) { const s = await store.gc(); collections++; deleted += s.deleted; await new Promise(r => setTimeout(r, 20)) } })()
    ]
    await Promise.all(writers)
    const final = await store.gc()
    expect(collections).toBeGreaterThan(3)
    expect(pinned).toBeGreaterThan(3)
    expect(deleted + final.deleted).toBeGreaterThan(0)
    expect((await store.status()).fetchCache.evicted).toBeGreaterThan(0)
    const check = await checkPinnedDags(store)
    expect(check.missing).toEqual([])
    expect(check.pins).toBeGreaterThan(10)
    expect(final.incompletePins).toBe(0)
  })

  it('keeps the replicated logs and refuses to run when they exist but replication is off', async () => {
    const network = { enabled: true, seed: 'gc-node', writers: [identityIdFromSeed('gc-node')] }
    const t = await openTestStore({ network })
    cleanup = t.cleanup
    await t.store.storeBlocks(t.chain.take(5, t.store.config.limits))
    await t.store.replication!.flushAnnouncements()
    await t.store.replication!.putValidator('v1', { stake: '1', status: 'active', lastSeen: 1 })
    const summary = await t.store.gc()
    expect(summary.incompletePins).toBe(0)
    await t.store.stop()
    // the chain log and validator state load from what GC kept
    const back = await t.reopen({ network })
    expect(back.replication!.fold.tip()?.height).toBe(4)
    expect((await back.replication!.validators()).map(v => v.id)).toEqual(['v1'])
    await back.stop()
    const offline = await t.reopen({ network: { enabled: false } })
    await expect(offline.gc()).rejects.toThrow(/replication is off/)
  })

  it('pin and unpin: a user pin holds a DAG through GC, fetching missing blocks through a gateway first; unpin lets GC free it', async () => {
    const { startReadApi } = await import('../src/api/server.ts')
    const { quietLogger } = await import('./helpers/store.ts')
    const a = await openTestStore()
    const file = await a.store.addFile(new Uint8Array(2_500_000).map((_, i) => (i * 7) % 256))
    const api = await startReadApi(a.store, { host: '127.0.0.1', port: 0, logger: quietLogger })
    const b = await openTestStore({ gateways: { enabled: true, urls: [api.url], timeoutMs: 5_000, stallMs: 1_000 } })
    cleanup = async () => { await api.close(); await a.cleanup(); await b.cleanup() }
    const record = await b.store.pin(file)
    expect(record).toMatchObject({ reasons: ['user'], recursive: true })
    await b.store.gc()
    let length = 0
    for await (const chunk of b.store.cat(file)) length += chunk.length
    expect(length).toBe(2_500_000)
    expect(await b.store.unpin(file)).toBe(true)
    expect(await b.store.unpin(file)).toBe(false)
    const freed = await b.store.gc()
    expect(freed.deleted).toBeGreaterThanOrEqual(3) // the file's root and leaves
    expect(b.store.localBytes(file)).toBeUndefined()
    // unpin leaves other holds alone: a blob pinned by addFile keeps its blob hold
    expect(await a.store.unpin(file)).toBe(false)
    expect((await a.store.gc()).deleted).toBe(0)
  })
})
