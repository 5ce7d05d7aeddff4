/**
 * Postings grouped per window of heights (schema 6): the head's window in
 * memory, older windows on disk. Every answer is checked against a model
 * built from the canonical blocks' inputs: across window boundaries, paged
 * both ways, after a clean reopen, and through reorgs that reach into a
 * window already on disk or move the head below the window held in memory.
 */
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { ClassicLevel } from 'classic-level'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { encodeBlock } from '../src/codec/encode.ts'
import type { BlockInput } from '../src/codec/types.ts'
import { createChainStore, type ChainStore } from '../src/index.ts'
import { decodeSavedWindow, encodeWindow, payloadOf, postingsFrom, windowKey, type BlockPostings } from '../src/indexes/window-rows.ts'
import { WindowRows } from '../src/indexes/window-memory.ts'
import { SAVED_WINDOW_KEY } from '../src/indexes/windows.ts'
import { LEVEL_DIR, markWriteFailed } from '../src/storage/level.ts'
import { POSTINGS_WINDOW, PREFIX, prefixRange, readU64 } from '../src/storage/keys.ts'
import { Slab } from '../src/storage/slab.ts'
import { SyntheticChain } from '../src/synthetic/chain.ts'
import { openTestStore, tempDir } from './helpers/store.ts'

let cleanup: (() => Promise<void>) | undefined
afterEach(async () => { await cleanup?.(); cleanup = undefined })

const CHAIN = { txsPerBlock: [1, 4] as [number, number], addresses: 8, logShare: 0.5 }

/** (height, index) of every canonical transaction an address sent or received, oldest first. */
function historyModel (blocks: BlockInput[]): Map<string, string[]> {
  const out = new Map<string, string[]>()
  const add = (a: string, v: string): void => { const k = a.toLowerCase(); out.set(k, [...(out.get(k) ?? []), v]) }
  for (const b of blocks) {
    b.transactions.forEach((tx, i) => {
      add(tx.from as string, `${b.height}:${i}`)
      if (tx.to != null && (tx.to as string).toLowerCase() !== (tx.from as string).toLowerCase()) add(tx.to as string, `${b.height}:${i}`)
    })
  }
  return out
}

async function history (store: ChainStore, address: string, limit: number, reverse = false): Promise<string[]> {
  const out: string[] = []
  for (let cursor: string | undefined; ;) {
    const page = await store.getAddressHistory(address, { limit, reverse, ...(cursor != null ? { cursor } : {}) })
    out.push(...page.items.map(i => `${i.height}:${i.index}`))
    if (page.cursor == null) return out
    cursor = page.cursor
  }
}

async function expectHistories (store: ChainStore, blocks: BlockInput[]): Promise<void> {
  const model = historyModel(blocks)
  expect(model.size).toBeGreaterThan(4)
  for (const [address, want] of model) {
    expect(await history(store, address, 7), address).toEqual(want)
    expect(await history(store, address, 5, true), `${address} reversed`).toEqual([...want].reverse())
  }
}

/** Logs by an emitting address and by a topic over every height answer like the blocks. */
async function expectLogs (store: ChainStore, blocks: BlockInput[]): Promise<void> {
  const logs = blocks.flatMap(b => (b.receipts ?? []).flatMap((r, index) => (r.logs ?? []).map((l, logIndex) => ({ height: b.height, index, logIndex, address: (l.address as string).toLowerCase(), topics: (l.topics as string[]).map(x => x.toLowerCase()) }))))
  expect(logs.length).toBeGreaterThan(10)
  const pick = (l: { height: number, index: number, logIndex: number }): string => `${l.height}:${l.index}:${l.logIndex}`
  const { address } = logs[logs.length - 1]
  const topic = logs[logs.length - 1].topics[1]
  const toHeight = blocks[blocks.length - 1].height
  expect((await store.getLogs({ address, fromHeight: 0, toHeight })).map(pick)).toEqual(logs.filter(l => l.address === address).map(pick))
  expect((await store.getLogs({ topics: [null, topic], fromHeight: 0, toHeight })).map(pick)).toEqual(logs.filter(l => l.topics[1] === topic).map(pick))
}

/** Window starts of the address windows on disk. */
async function diskWindows (store: ChainStore): Promise<Set<number>> {
  const out = new Set<number>()
  for await (const key of store.maintenance().db.keys(prefixRange(Uint8Array.of(PREFIX.ADDRESS_WINDOW)))) out.add(readU64(key, 21))
  return out
}

describe('postings windows', () => {
  it('history and logs across windows match the blocks, paged both ways; the head\'s window stays off disk until a clean close', async () => {
    const t = await openTestStore({}, CHAIN)
    cleanup = t.cleanup
    const limits = t.store.config.limits
    const inputs = t.chain.take(2 * POSTINGS_WINDOW + 90, limits)
    // calls of 7 blocks: window boundaries fall inside calls, and calls are in flight two at a time
    const writes: Array<Promise<unknown>> = []
    for (let i = 0; i < inputs.length; i += 7) writes.push(t.store.storeBlocks(inputs.slice(i, i + 7)))
    await Promise.all(writes)
    await expectHistories(t.store, inputs)
    expect([...await diskWindows(t.store)].sort((a, b) => a - b)).toEqual([0, POSTINGS_WINDOW])

    // logs by emitting address and by topic, over a range that spans a window boundary
    const logs = inputs.flatMap(b => (b.receipts ?? []).flatMap((r, index) => (r.logs ?? []).map((l, logIndex) => ({ height: b.height, index, logIndex, address: (l.address as string).toLowerCase(), topics: (l.topics as string[]).map(x => x.toLowerCase()) }))))
    const address = logs[0].address
    const topic = logs[1].topics[1]
    const from = POSTINGS_WINDOW - 40
    const to = 2 * POSTINGS_WINDOW + 30
    const pick = (l: { height: number, index: number, logIndex: number }): string => `${l.height}:${l.index}:${l.logIndex}`
    const inRange = logs.filter(l => l.height >= from && l.height <= to)
    expect((await t.store.getLogs({ address, fromHeight: from, toHeight: to })).map(pick)).toEqual(inRange.filter(l => l.address === address).map(pick))
    expect((await t.store.getLogs({ topics: [null, topic], fromHeight: from, toHeight: to })).map(pick)).toEqual(inRange.filter(l => l.topics[1] === topic).map(pick))

    await t.store.stop()
    const again = await t.reopen()
    await expectHistories(again, inputs)
    // the reopened store took the head's window back into memory
    expect([...await diskWindows(again)].sort((a, b) => a - b)).toEqual([0, POSTINGS_WINDOW])
    expect((await again.getLogs({ address, fromHeight: from, toHeight: to })).map(pick)).toEqual(inRange.filter(l => l.address === address).map(pick))
  })

  it('a reorg into a window on disk rewrites it; a branch that ends below the window in memory, then grows past it, keeps every answer', async () => {
    const t = await openTestStore({}, CHAIN)
    cleanup = t.cleanup
    const { store } = t
    const limits = store.config.limits
    const base = t.chain.take(POSTINGS_WINDOW + 44, limits)
    await store.storeBlocks(base)
    const heads = base.map(b => encodeBlock(b, limits))
    const at = (h: number): { height: number, cid: any } => ({ height: h, cid: heads[h].cid })

    // branch B from 250 (window 0, on disk) to 310: its first blocks land in window 0
    const forkB = POSTINGS_WINDOW - 6
    const b = new SyntheticChain({ ...CHAIN, seed: 91 }).resume(at(forkB)).take(60, limits)
    const bEnc = b.map(x => encodeBlock(x, limits))
    await store.importBlocks(bEnc)
    await store.setCanonical(bEnc[bEnc.length - 1].cid)
    const canonB = [...base.slice(0, forkB + 1), ...b]
    await expectHistories(store, canonB)

    // branch C from 240 to 245: the head drops below the window held in memory
    const forkC = POSTINGS_WINDOW - 16
    const c = new SyntheticChain({ ...CHAIN, seed: 92 }).resume(at(forkC)).take(5, limits)
    const cEnc = c.map(x => encodeBlock(x, limits))
    await store.importBlocks(cEnc)
    await store.setCanonical(cEnc[cEnc.length - 1].cid)
    expect(store.head()!.height).toBe(forkC + 5)
    const canonC = [...base.slice(0, forkC + 1), ...c]
    await expectHistories(store, canonC)

    // local writes grow C back across the boundary
    const more = new SyntheticChain({ ...CHAIN, seed: 93 }).resume({ height: forkC + 5, cid: cEnc[cEnc.length - 1].cid }).take(30, limits)
    for (let i = 0; i < more.length; i += 4) await store.storeBlocks(more.slice(i, i + 4))
    await expectHistories(store, [...canonC, ...more])

    await store.stop()
    const again = await t.reopen()
    await expectHistories(again, [...canonC, ...more])
  })

  it('a clean close saves the head\'s window and the next open reads it back; a damaged saved record or a missing window value falls back to the blocks', async () => {
    const { dir, cleanup: done } = await tempDir()
    cleanup = done
    const lines: string[] = []
    const logger = pino({ level: 'debug' }, new Writable({ write (c, _e, cb) { lines.push(String(c)); cb() } }))
    const dataDir = join(dir, 'data')
    const open = async (): Promise<ChainStore> => await createChainStore({ dataDir }, { logger })
    /** How the last open loaded the head's window ('saved' or 'blocks') and how many blocks it held. */
    const lastOpen = (): { from: string, blocks: number } => {
      const found = lines.map(l => JSON.parse(l)).filter(r => typeof r.msg === 'string' && r.msg.startsWith('postings: the head\'s window'))
      return found[found.length - 1]
    }
    /** Changes the closed store's LevelDB. */
    const edit = async (fn: (db: ClassicLevel<Uint8Array, Uint8Array>) => Promise<void>): Promise<void> => {
      const db = new ClassicLevel<Uint8Array, Uint8Array>(join(dataDir, LEVEL_DIR), { keyEncoding: 'view', valueEncoding: 'view' })
      await db.open()
      try { await fn(db) } finally { await db.close() }
    }
    const chain = new SyntheticChain(CHAIN)
    let store = await open()
    const limits = store.config.limits
    const inputs = chain.take(POSTINGS_WINDOW + 70, limits)
    for (let i = 0; i < inputs.length; i += 9) await store.storeBlocks(inputs.slice(i, i + 9))
    await store.stop()

    store = await open()
    expect(lastOpen()).toMatchObject({ from: 'saved', blocks: 70 })
    await expectHistories(store, inputs)
    await expectLogs(store, inputs)
    // blocks added to the window read back (and across its end) are written with it
    const more = chain.take(POSTINGS_WINDOW, limits)
    for (let i = 0; i < more.length; i += 9) await store.storeBlocks(more.slice(i, i + 9))
    await expectHistories(store, [...inputs, ...more])
    await expectLogs(store, [...inputs, ...more])
    expect([...await diskWindows(store)].sort((a, b) => a - b)).toEqual([0, POSTINGS_WINDOW])
    await store.stop()

    // a flipped byte in the saved record: ignored, the window is rebuilt from its blocks
    await edit(async db => {
      const v = (await db.get(SAVED_WINDOW_KEY))!
      v[5] ^= 0x40
      await db.put(SAVED_WINDOW_KEY, v)
    })
    store = await open()
    expect(lastOpen()).toMatchObject({ from: 'blocks', blocks: 70, ignored: expect.stringMatching(/checksum/) })
    await expectHistories(store, [...inputs, ...more])
    await store.stop()

    // a value the saved record names is gone: rebuilt from the blocks, nothing missing
    await edit(async db => {
      const saved = decodeSavedWindow((await db.get(SAVED_WINDOW_KEY))!)
      expect(saved.bases.length).toBeGreaterThan(4)
      await db.del(windowKey(saved.bases[0], 2))
    })
    store = await open()
    expect(lastOpen()).toMatchObject({ from: 'blocks', blocks: 70, ignored: expect.stringMatching(/value it names is missing/) })
    await expectHistories(store, [...inputs, ...more])
    // the open consumed the record: a crash from here on rebuilds from the blocks
    expect(store.maintenance().db.getSync(SAVED_WINDOW_KEY)).toBeUndefined()

    // a store whose writes are refused (LevelDB reported an I/O error) still stops; the next open rebuilds the window
    markWriteFailed(store.maintenance().db, Object.assign(new Error('IO error: disk gone'), { code: 'LEVEL_IO_ERROR' }))
    await expect(store.storeBlocks(chain.take(1, limits))).rejects.toThrow(/earlier write failed/)
    await store.stop()
    store = await open()
    expect(lastOpen()).toMatchObject({ from: 'blocks', blocks: 70 })
    await expectHistories(store, [...inputs, ...more])
    await store.stop()
  })
})

describe('a window\'s rows in memory (WindowRows)', () => {
  /** Rows as "height:payload-hex" strings. */
  const show = (rows: Array<{ height: number, payload: Uint8Array }>): string[] => rows.map(r => `${r.height}:${Buffer.from(r.payload).toString('hex')}`)
  /** Transaction digests the address payloads copy theirs from (32 bytes each, by number). */
  const digests = new Uint8Array(32 * 32768).map((_, i) => (i * 31 + 7) & 0xff)
  /** A block's postings for the given (base, payload numbers) pairs. */
  const postingsOf = (entries: Array<[Uint8Array, number[]]>): BlockPostings => postingsFrom(entries, digests)

  for (const gaps of [true, false]) {
  it(`adds${gaps ? ', fills gaps' : ' in height order'} and drops like a model of sorted rows per key, and seals exactly what encodeWindow writes`, () => {
    let seed = 11
    const random = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n }
    // a log-topic base (4-byte payloads, the smallest rows: the arena grows many times) and an address base (36-byte payloads)
    const bases = [Uint8Array.of(PREFIX.LOG_TOPIC_WINDOW, 1, 2, 3), Uint8Array.of(PREFIX.ADDRESS_WINDOW, ...new Uint8Array(20).fill(7))]
    const sizes = [4, 36]
    const rows = new WindowRows()
    let models: Array<Array<{ height: number, payload: Uint8Array }>> = [[], []]
    let payloadNo = 0
    const next = (): number => payloadNo++
    for (let step = 0; step < 3000; step++) {
      const heights = [...new Set(models.flat().map(r => r.height))]
      if (random(5) === 0 && heights.length > 0) {
        const gone = new Set([heights[random(heights.length)], heights[random(heights.length)]])
        models = models.map(m => m.filter(r => !gone.has(r.height)))
        rows.drop(gone)
      } else {
        // mostly the next height; sometimes a height below the top that is not held (a gap filled)
        const top = heights.length === 0 ? 0 : Math.max(...heights)
        let height = gaps && random(4) === 0 ? random(top + 1) : top + 1 + random(3)
        if (heights.includes(height)) height = top + 1
        // a block touches one key or both
        const touched = random(3) === 0 ? [0] : random(2) === 0 ? [1] : [0, 1]
        const entries: Array<[Uint8Array, number[]]> = touched.map(i => [bases[i], Array.from({ length: 1 + random(4) }, next)])
        rows.add(height, postingsOf(entries))
        // stable: rows of one height keep their block order
        for (const [i, [base, refs]] of touched.map((i, j) => [i, entries[j]] as const)) {
          models[i] = [...models[i], ...refs.map(n => ({ height, payload: payloadOf(base[0], n, digests) }))].sort((a, b) => a.height - b.height)
        }
      }
      expect(rows.size).toBe(models.filter(m => m.length > 0).length)
      if (step % 100 === 0) {
        const sealed = rows.sealedAll(new Slab())
        for (let i = 0; i < 2; i++) {
          expect(show(rows.rows(bases[i]))).toEqual(show(models[i]))
          const value = sealed.find(v => Buffer.from(v.base).equals(bases[i]))?.value
          expect(value == null ? null : Buffer.from(value).toString('hex')).toBe(models[i].length === 0 ? null : Buffer.from(encodeWindow(models[i], sizes[i])).toString('hex'))
        }
      }
    }
    for (let i = 0; i < 2; i++) {
      expect(models[i].length).toBeGreaterThan(200)
      const k = bases[i]
      expect(show(rows.rows(k))).toEqual(show(models[i]))
      const sealed = rows.sealedAll(new Slab()).find(v => Buffer.from(v.base).equals(k))!.value
      expect(Buffer.from(sealed).equals(encodeWindow(models[i], sizes[i]))).toBe(true)
      // rows read back from a stored value are the same rows
      const back = new WindowRows()
      back.addStored(bases[i], sealed.subarray(0, sealed.length - 4))
      expect(show(back.rows(k))).toEqual(show(models[i]))
    }
  })
  }

  it('finds each of 20,000 keys by its bytes through the table\'s growth, keys one byte apart or of other lengths included, and a key whose rows were dropped comes back', () => {
    // keys of three families and lengths; pairs differ in their last byte only, and a topic's bytes start like an address's
    const bases: Uint8Array[] = []
    for (let i = 0; i < 10_000; i++) {
      const bytes = new Uint8Array(32).map((_, j) => (i * 7 + j * 13) & 0xff)
      bytes[31] = i & 0xff
      bytes[30] = i >> 8
      if (i % 3 === 0) bases.push(Uint8Array.of(PREFIX.ADDRESS_WINDOW, ...bytes.subarray(12)), Uint8Array.of(PREFIX.ADDRESS_WINDOW, ...bytes.subarray(12, 31), bytes[31] ^ 1))
      else if (i % 3 === 1) bases.push(Uint8Array.of(PREFIX.LOG_TOPIC_WINDOW, 0, ...bytes), Uint8Array.of(PREFIX.LOG_TOPIC_WINDOW, 1, ...bytes))
      else bases.push(Uint8Array.of(PREFIX.LOG_ADDRESS_WINDOW, ...bytes.subarray(12)), Uint8Array.of(PREFIX.LOG_TOPIC_WINDOW, 0, ...bytes.subarray(12)))
    }
    expect(new Set(bases.map(b => Buffer.from(b).toString('hex'))).size).toBe(20_000)
    const rows = new WindowRows()
    // height h posts keys h*100 .. h*100+99, payload number = key number % 30000
    for (let h = 0; h < 200; h++) rows.add(h, postingsOf(bases.slice(h * 100, h * 100 + 100).map((b, j) => [b, [(h * 100 + j) % 30_000]])))
    expect(rows.size).toBe(20_000)
    for (const n of [0, 1, 2, 3, 4, 5, 9_999, 10_000, 19_998, 19_999]) {
      expect(show(rows.rows(bases[n]))).toEqual(show([{ height: Math.floor(n / 100), payload: payloadOf(bases[n][0], n, digests) }]))
    }
    // a key the window never saw
    expect(rows.rows(Uint8Array.of(PREFIX.ADDRESS_WINDOW, ...new Uint8Array(20).fill(0xee)))).toEqual([])
    // every key of heights 0-99 loses its rows, then one of them gets a row again
    rows.drop(new Set(Array.from({ length: 100 }, (_, h) => h)))
    expect(rows.size).toBe(10_000)
    expect(rows.rows(bases[0])).toEqual([])
    expect([...rows.keys()].length).toBe(10_000)
    rows.add(300, postingsOf([[bases[0], [7]]]))
    expect(rows.size).toBe(10_001)
    expect(show(rows.rows(bases[0]))).toEqual(show([{ height: 300, payload: payloadOf(bases[0][0], 7, digests) }]))
    expect(rows.sealedAll(new Slab()).length).toBe(10_001)
  })

  it('rows handed to a reader do not change when the window changes afterwards', () => {
    const base = Uint8Array.of(PREFIX.LOG_ADDRESS_WINDOW, 9)
    const k = base
    const rows = new WindowRows()
    rows.add(5, postingsOf([[base, [1]]]))
    rows.add(7, postingsOf([[base, [2]]]))
    const held = rows.rows(k)
    // a gap filled below, then a height dropped: both relink rows of the window
    rows.add(6, postingsOf([[base, [3]]]))
    rows.drop(new Set([5]))
    expect(show(held)).toEqual(['5:00000001', '7:00000002'])
    expect(show(rows.rows(k))).toEqual(['6:00000003', '7:00000002'])
    // a key whose rows are all dropped is no longer held
    rows.drop(new Set([6, 7]))
    expect(rows.size).toBe(0)
    expect(rows.rows(k)).toEqual([])
  })

  it('an address payload is the transaction index and its digest; a log payload its ordinal', () => {
    const address = Uint8Array.of(PREFIX.ADDRESS_WINDOW, ...new Uint8Array(20).fill(1))
    const topic = Uint8Array.of(PREFIX.LOG_TOPIC_WINDOW, 0, ...new Uint8Array(32).fill(2))
    const rows = new WindowRows()
    rows.add(9, postingsOf([[address, [3, 1]], [topic, [4]]]))
    expect(show(rows.rows(address))).toEqual([3, 1].map(n => `9:${n.toString(16).padStart(8, '0')}${Buffer.from(digests.subarray(n * 32, n * 32 + 32)).toString('hex')}`))
    expect(show(rows.rows(topic))).toEqual(['9:00000004'])
  })
})
