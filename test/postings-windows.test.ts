/**
 * Postings grouped per window of heights (schema 6): the head's window in
 * memory, older windows on disk. Every answer is checked against a model
 * built from the canonical blocks' inputs: across window boundaries, paged
 * both ways, after a clean reopen, and through reorgs that reach into a
 * window already on disk or move the head below the window held in memory.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { encodeBlock } from '../src/codec/encode.ts'
import type { BlockInput } from '../src/codec/types.ts'
import type { ChainStore } from '../src/index.ts'
import { POSTINGS_WINDOW, PREFIX, prefixRange, readU64 } from '../src/storage/keys.ts'
import { SyntheticChain } from '../src/synthetic/chain.ts'
import { openTestStore } from './helpers/store.ts'

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
})
