import { readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { startReadApi } from '../src/api/server.ts'
import { verifyStore } from '../src/integrity/index.ts'
import { ChainHoleError, type ChainStore } from '../src/index.ts'
import { StateStore, emptyAccount } from '../src/state/index.ts'
import { META_HEAD, PREFIX, blockKey, blockTxIdsKey, digestKey, heightKey } from '../src/storage/keys.ts'
import { setHeadInBatch } from '../src/chain/meta.ts'
import type { BlockInput } from '../src/codec/types.ts'
import { openTestStore, quietLogger } from './helpers/store.ts'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c() })

/** A source store serving the chain over its trustless gateway, and a damaged copy's opener. */
async function pair (n = 20) {
  const a = await openTestStore()
  cleanups.push(a.cleanup)
  const blocks: BlockInput[] = a.chain.take(n, a.store.config.limits)
  await a.store.storeBlocks(blocks)
  const api = await startReadApi(a.store, { host: '127.0.0.1', port: 0, logger: quietLogger })
  cleanups.push(async () => { await api.close() })
  const gateways = { enabled: true, urls: [api.url], timeoutMs: 5_000, stallMs: 2_000 }
  const b = await openTestStore({ gateways })
  cleanups.push(b.cleanup)
  await b.store.storeBlocks(blocks)
  return { a: a.store, b, gateways }
}

function pageOf (store: ChainStore, height: number) {
  return store.getHeaderSync(height).txPages[0]
}

describe('integrity', () => {
  it('a sound store checks clean', async () => {
    const { b } = await pair(10)
    const m = b.store.maintenance()
    const state = await StateStore.open({ db: m.db, blocks: m.blocks, sync: false, logger: quietLogger })
    const k = new Uint8Array(20).fill(3)
    await state.put(k, { ...emptyAccount(), balance: 5n }); await state.commit(9)
    await state.close()
    const s = await verifyStore(b.store)
    expect(s.problems).toBe(0)
    expect(s.blocks).toBeGreaterThan(20)
    expect(s.heights).toBe(10)
  })

  it('finds corrupt bytes, deleted blocks, deleted index entries and a wrong head; repair fixes each from a gateway', async () => {
    const { a, b } = await pair(20)
    const store = b.store
    const m = store.maintenance()
    // corrupt a page's bytes in the LevelDB value
    const corrupt = pageOf(store, 3)
    const bytes = Uint8Array.from(store.localBytes(corrupt)!)
    bytes[10] ^= 0xff
    await m.blocks.put(blockKey(corrupt), bytes)
    // delete a page and a header
    const gone = pageOf(store, 7)
    await m.blocks.del(blockKey(gone))
    const header = store.canonicalAt(11)!
    await m.blocks.del(blockKey(header))
    // delete index entries: a transaction record, a block's tx id list, a height entry
    const tx = (await store.getBlock(5)).txIds[0]
    await m.db.del(digestKey(PREFIX.TX, tx.multihash.digest))
    await m.db.del(blockTxIdsKey(6))
    await m.db.del(heightKey(14))
    // and the head
    const batch = m.db.batch()
    const wrong = { height: 12, cid: store.canonicalAt(12)! }
    setHeadInBatch({ put: (k, v) => batch.put(k, v), del: k => batch.del(k), putBlock: () => {} }, wrong)
    await batch.write()

    const s = await verifyStore(store)
    expect(s.counts['corrupt-block']).toBe(1)
    // the blockstore key holds the multihash only: the finding names the block under the raw codec
    const { CID } = await import('multiformats/cid')
    expect(CID.parse(s.findings.find(f => f.kind === 'corrupt-block')!.cid!).multihash.bytes).toEqual(corrupt.multihash.bytes)
    expect(s.counts['missing-block']).toBeGreaterThanOrEqual(2)
    expect(s.findings.some(f => f.kind === 'missing-block' && f.cid === gone.toString())).toBe(true)
    expect(s.findings.some(f => f.kind === 'missing-block' && f.height === 11)).toBe(true)
    expect(s.findings.some(f => f.kind === 'missing-index' && f.height === 5)).toBe(true)
    expect(s.findings.some(f => f.kind === 'missing-index' && f.height === 6)).toBe(true)
    expect(s.findings.some(f => f.kind === 'missing-index' && f.height === 14)).toBe(true)
    expect(s.counts['head-mismatch']).toBe(1)
    expect(s.repaired).toBe(false)

    const r = await verifyStore(store, { repair: true })
    expect(r.refetchFailed).toEqual([])
    expect(r.unfixed).toEqual([])
    expect(r.fixed).toBe(r.problems)
    expect(store.head()?.height).toBe(19)
    for (let h = 0; h < 20; h++) expect((await store.getBlock(h)).cid.toString()).toBe((await a.getBlock(h)).cid.toString())
    expect((await store.getTransaction(tx)).height).toBe(5)
    expect((await verifyStore(store)).problems).toBe(0)
    // what was fetched back is held again, not in the fetch cache where eviction could take it
    expect((await store.status()).fetchCache.entries).toBe(0)
  })

  it('reports what it cannot fix when no peer or gateway has the data', async () => {
    const t = await openTestStore()
    cleanups.push(t.cleanup)
    await t.store.storeBlocks(t.chain.take(8, t.store.config.limits))
    const m = t.store.maintenance()
    const gone = pageOf(t.store, 4)
    await m.blocks.del(blockKey(gone))
    await m.db.del(digestKey(PREFIX.TX, (await t.store.getBlock(2)).txIds[0].multihash.digest))
    const r = await verifyStore(t.store, { repair: true })
    expect(r.problems).toBeGreaterThanOrEqual(2)
    expect(r.refetchFailed.map(f => f.cid)).toContain(gone.toString())
    expect(r.unfixed.some(f => f.kind === 'missing-block' && f.cid === gone.toString())).toBe(true)
    expect(r.fixed).toBeGreaterThanOrEqual(1) // the transaction record came back from its block
    expect(r.unfixedCounts['missing-index']).toBeUndefined()
  })

  it('survives bytes flipped in the LevelDB files of a store opened without the table check (trusted disk, or rot the ledger cannot see): findings, not a crash', async () => {
    const { b, gateways } = await pair(30)
    const m = b.store.maintenance()
    await m.db.compactRange(Uint8Array.of(0), Uint8Array.of(0xff))
    const levelDir = join(b.dir, 'data', 'level')
    await b.store.stop()
    const tables = []
    for (const f of await readdir(levelDir)) if (f.endsWith('.ldb')) tables.push({ f, size: (await stat(join(levelDir, f))).size })
    tables.sort((x, y) => y.size - x.size)
    expect(tables.length).toBeGreaterThan(0)
    const file = join(levelDir, tables[0].f)
    const bytes = await readFile(file)
    // flip bytes inside the data blocks (the index and footer sit at the end)
    for (let i = 1; i <= 8; i++) bytes[Math.floor(bytes.length * i / 12)] ^= 0x5a
    await writeFile(file, bytes)
    let reopened: ChainStore
    try {
      reopened = await b.reopen({ gateways, level: { checkTables: 'off' } })
    } catch (err) {
      // LevelDB may refuse the damaged table at open: that is a typed open error, also not a crash
      expect((err as Error).name).toMatch(/StoreOpenError|CorruptDataError/)
      return
    }
    const s = await verifyStore(reopened)
    if (process.env.DEBUG_INTEGRITY != null) console.log(s.counts, s.findings.slice(0, 3))
    expect(s.problems).toBeGreaterThan(0)
    expect(s.counts['damaged-table']).toBe(1) // verify checks every table whatever the open did
    const kinds = Object.keys(s.counts)
    expect(kinds.some(k => ['corrupt-block', 'unreadable', 'storage-corruption', 'missing-block', 'missing-index', 'dangling-index', 'index-mismatch', 'head-mismatch'].includes(k))).toBe(true)
    const r = await verifyStore(reopened, { repair: true })
    if (process.env.DEBUG_INTEGRITY != null) console.log(r.fixed, r.unfixedCounts, r.refetched, r.refetchFailed.length, r.unfixed.slice(0, 2))
    expect(r.repaired).toBe(true)
    expect(r.fixed + Object.values(r.unfixedCounts).reduce((n, c) => n + (c ?? 0), 0)).toBeGreaterThan(0)
    void META_HEAD
  })

  it('heights lost below the head (a damaged log): open refuses local writes, verify names the gap, repair refills it from a gateway', async () => {
    const { a, b } = await pair(30)
    const m = b.store.maintenance()
    // what a lost batch takes: the blocks of heights 12..14 with every entry naming them
    for (const h of [12, 13, 14]) {
      const header = b.store.getHeaderSync(h)
      await m.db.del(heightKey(h))
      await m.db.del(blockTxIdsKey(h))
      await m.db.del(digestKey(PREFIX.BLOCK, header.cid.multihash.digest))
      for (const p of [header.cid, ...header.txPages, ...header.receiptPages]) await m.blocks.del(blockKey(p))
    }
    await b.store.stop()
    const reopened = await b.reopen()
    b.chain.take(30, reopened.config.limits) // b's generator makes the same chain as a's: skip what pair stored
    const next = b.chain.take(1, reopened.config.limits)
    const refused = await reopened.storeBlocks(next).catch(e => e)
    expect(refused).toBeInstanceOf(ChainHoleError)
    expect(refused.message).toContain('12, 13, 14')
    const found = await verifyStore(reopened)
    expect(found.counts['missing-height']).toBe(1)
    expect(found.findings.find(f => f.kind === 'missing-height')?.message).toContain('12..14')
    const repaired = await verifyStore(reopened, { repair: true })
    expect(repaired.unfixed).toEqual([])
    for (const h of [12, 13, 14]) expect(reopened.getBlockSync(h).cid.equals(a.getHeaderSync(h).cid)).toBe(true)
    // whole again: local writes go on
    expect((await reopened.storeBlocks(next))[0].height).toBe(30)
  })

  it('a flipped byte in a transaction record is found by verify and rebuilt by repair from the block\'s pages', async () => {
    const { b } = await pair(10)
    const m = b.store.maintenance()
    const id = b.store.getBlockSync(4).txIds[0]
    const key = digestKey(PREFIX.TX, id.multihash.digest)
    const record = Uint8Array.from((await m.db.get(key))!)
    record[record.length - 1] ^= 0x01
    await m.db.put(key, record)
    const found = await verifyStore(b.store)
    expect(found.counts['corrupt-record']).toBe(1)
    const repaired = await verifyStore(b.store, { repair: true })
    expect(repaired.unfixed).toEqual([])
    expect((await b.store.getTransaction(id)).id.equals(id)).toBe(true)
  })

  it('log records LevelDB dropped at open are reported: local writes refused, verify names the lost writes and the gap they left; repair clears the mark, the gap keeps writes refused', async () => {
    const t = await openTestStore()
    cleanups.push(t.cleanup)
    for (let i = 0; i < 4; i++) await t.store.storeBlocks(t.chain.take(5, t.store.config.limits))
    await t.store.stop()
    const levelDir = join(t.dir, 'data', 'level')
    const log = (await readdir(levelDir)).find(f => f.endsWith('.log'))!
    const bytes = await readFile(join(levelDir, log))
    expect(bytes.length).toBeGreaterThan(4096)
    // a flip in the middle of the log: LevelDB drops the damaged records and opens anyway
    bytes[Math.floor(bytes.length / 2)] ^= 0x20
    await writeFile(join(levelDir, log), bytes)
    const reopened = await t.reopen()
    const refused = await reopened.storeBlocks(t.chain.take(1, reopened.config.limits)).catch(e => e)
    expect(refused).toBeInstanceOf(ChainHoleError)
    expect(refused.message).toMatch(/dropped \d+ bytes of its write-ahead log/)
    const found = await verifyStore(reopened)
    expect(found.counts['lost-writes']).toBe(1)
    const repaired = await verifyStore(reopened, { repair: true })
    expect(repaired.unfixedCounts['lost-writes'] ?? 0).toBe(0)
    // the flip takes a middle batch (or two): its heights are gone, the last batch survived above them; with no peer
    // or gateway to refill them, verify still names the gap and local writes stay refused (never built upon)
    expect(repaired.unfixedCounts['missing-height']).toBe(1)
    const still = await reopened.storeBlocks(t.chain.take(1, reopened.config.limits)).catch(e => e)
    expect(still).toBeInstanceOf(ChainHoleError)
    expect(still.message).toContain('below the head are missing')
    expect(still.message).not.toMatch(/write-ahead log/)
  })
})
