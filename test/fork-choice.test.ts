import { afterEach, describe, expect, it } from 'vitest'
import { encodeBlock } from '../src/codec/encode.ts'
import { blockFromBytes, splitCborArray } from '../src/codec/from-bytes.ts'
import { CorruptDataError, TransactionNotFoundError, BlockNotFoundError } from '../src/index.ts'
import { CHECKPOINT_MARGIN, CHECKPOINT_STEP, ForkChoice, checkAnnouncementBatch, type Announcement } from '../src/replication/fold.ts'
import { SyntheticChain, rng } from '../src/synthetic/chain.ts'
import { openTestStore } from './helpers/store.ts'

const LIMITS = { maxTxBytes: 128 * 1024, maxBlockBytes: 16 * 1024 * 1024, maxTxsPerBlock: 20_000, pageBytes: 4096 }

describe('blockFromBytes (what peers send, rebuilt without re-encoding)', () => {
  it('gives exactly what encodeBlock gave: ids, pages, receipt ranges, logs', () => {
    const chain = new SyntheticChain({ txsPerBlock: [40, 80], addresses: 30 })
    for (const input of chain.take(5, LIMITS)) {
      const enc = encodeBlock(input, LIMITS)
      expect(enc.txPages.length).toBeGreaterThan(1)
      const pages = new Map([...enc.txPages, ...enc.receiptPages].map(p => [p.cid.toString(), p.bytes]))
      const back = blockFromBytes(enc.cid, enc.header.bytes, c => pages.get(c.toString()), LIMITS)
      expect(back.cid.equals(enc.cid)).toBe(true)
      expect(back.txs.map(t => t.id.toString())).toEqual(enc.txs.map(t => t.id.toString()))
      expect(back.txs.map(t => [t.page, t.position, t.receiptOffset, t.receiptLength])).toEqual(enc.txs.map(t => [t.page, t.position, t.receiptOffset, t.receiptLength]))
      expect(back.txs.map(t => t.logs.length)).toEqual(enc.txs.map(t => t.logs.length))
      expect(back.size).toBe(enc.size)
    }
  })

  it('refuses a flipped byte, a missing page and a truncated page with CorruptDataError', () => {
    const enc = encodeBlock(new SyntheticChain({ txsPerBlock: 20 }).next(LIMITS), LIMITS)
    const pages = new Map([...enc.txPages, ...enc.receiptPages].map(p => [p.cid.toString(), p.bytes]))
    const flipped = new Map(pages)
    const first = enc.txPages[0]
    const bad = Uint8Array.from(first.bytes); bad[10] ^= 1
    flipped.set(first.cid.toString(), bad)
    expect(() => blockFromBytes(enc.cid, enc.header.bytes, c => flipped.get(c.toString()), LIMITS)).toThrow(CorruptDataError)
    expect(() => blockFromBytes(enc.cid, enc.header.bytes, () => undefined, LIMITS)).toThrow(/missing/)
    const headerFlip = Uint8Array.from(enc.header.bytes); headerFlip[5] ^= 1
    expect(() => blockFromBytes(enc.cid, headerFlip, c => pages.get(c.toString()), LIMITS)).toThrow(/do not hash/)
    expect(() => splitCborArray(first.bytes.subarray(0, first.bytes.length - 3), 'page')).toThrow(CorruptDataError)
  })
})

function ann (cid: string, height: number, parent: string | null, extra: Partial<Announcement> = {}): Announcement {
  return { cid, height, parent, weight: 1, finalized: false, txCount: 0, ...extra }
}

// CID-shaped strings are not needed by the fold itself, only distinct ordered ids
describe('fork choice fold', () => {
  it('prefers finalized, then weight, then the lowest tip CID', () => {
    const f = new ForkChoice()
    f.add(ann('g', 0, null))
    f.add(ann('b1', 1, 'g'))
    f.add(ann('a1', 1, 'g'))
    expect(f.tip()?.cid).toBe('a1') // equal weight: lowest CID
    f.add(ann('b2', 2, 'b1'))
    expect(f.tip()?.cid).toBe('b2') // heavier chain
    f.add(ann('a2', 2, 'a1', { weight: 5 }))
    expect(f.tip()?.cid).toBe('a2') // weight, not length
    f.add(ann('b1', 1, 'g', { finalized: true }))
    expect(f.tip()?.cid).toBe('b2') // a finalized block wins over any weight
    expect(f.pathFromTip().map(a => a.cid)).toEqual(['b2', 'b1', 'g'])
  })

  it('reaches the same tip whatever order the announcements arrive in, orphans included', () => {
    const list: Announcement[] = [ann('g', 0, null)]
    const random = rng(42)
    // a tree of 300 blocks with many forks
    for (let i = 1; i < 300; i++) {
      const parent = list[Math.floor(random() * list.length)]
      list.push(ann(`c${String(i).padStart(4, '0')}`, parent.height + 1, parent.cid, { weight: 1 + Math.floor(random() * 3), finalized: random() < 0.02 }))
    }
    const reference = new ForkChoice()
    for (const a of list) reference.add(a)
    for (let round = 0; round < 20; round++) {
      const shuffled = [...list]
      for (let i = shuffled.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]]
      }
      const f = new ForkChoice()
      for (const a of shuffled) f.add(a)
      expect(f.tip()?.cid).toBe(reference.tip()?.cid)
    }
  })

  it('drops a rejected block with its descendants', () => {
    const f = new ForkChoice()
    f.add(ann('g', 0, null)); f.add(ann('x1', 1, 'g')); f.add(ann('x2', 2, 'x1')); f.add(ann('y1', 1, 'g'))
    expect(f.tip()?.cid).toBe('x2')
    f.reject('x1')
    expect(f.tip()?.cid).toBe('y1')
    expect(f.add(ann('x1', 1, 'g'))).toBe(false)
  })

  it('stays bounded over many finalized heights: the checkpoint drops the chain and forks below it', () => {
    const f = new ForkChoice()
    const reference = new ForkChoice()
    const LAG = 32
    let prev: string | null = null
    const cids: string[] = []
    const add = (a: Announcement): void => { f.add(a); reference.add(a) }
    let largest = 0
    for (let h = 0; h < 10_000; h++) {
      const cid = `c${String(h).padStart(6, '0')}`
      cids.push(cid)
      add(ann(cid, h, prev))
      // a short fork every 100 heights (a losing sibling and its child)
      if (h % 100 === 50) { add(ann(`f${h}`, h, prev)); add(ann(`g${h}`, h + 1, `f${h}`)) }
      if (h >= LAG) add(ann(cids[h - LAG], h - LAG, h - LAG === 0 ? null : cids[h - LAG - 1], { finalized: true }))
      f.checkpoint(h - LAG)
      largest = Math.max(largest, f.size)
      prev = cid
    }
    expect(f.tip()?.cid).toBe(reference.tip()?.cid)
    expect(f.finalized()?.cid).toBe(reference.finalized()?.cid)
    expect(reference.size).toBeGreaterThan(10_000)
    // the blocks above finality, the margin, one step and a fork or two
    expect(largest).toBeLessThanOrEqual(LAG + CHECKPOINT_MARGIN + CHECKPOINT_STEP + 4)
    expect(f.checkpointHeight).toBeGreaterThan(10_000 - LAG - CHECKPOINT_MARGIN - CHECKPOINT_STEP - 1)
    // the path from the tip ends at the checkpoint, not at genesis
    const path = f.pathFromTip()
    expect(path[path.length - 1].height).toBe(f.checkpointHeight)
    // announcements at or below the checkpoint are ignored, above it they count
    expect(f.add(ann('late', f.checkpointHeight, cids[f.checkpointHeight - 1], { weight: 1000, finalized: true }))).toBe(false)
    expect(f.get(cids[0])).toBeUndefined()
  })

  it('gives the same tip as the whole fold when forks above the checkpoint compete', () => {
    const random = rng(7)
    const list: Announcement[] = [ann('g', 0, null, { finalized: true })]
    // a main chain of 600 with random forks above, finality trailing 40 behind
    for (let h = 1; h < 600; h++) {
      list.push(ann(`m${String(h).padStart(4, '0')}`, h, list.find(a => a.height === h - 1 && a.cid.startsWith('m'))?.cid ?? 'g'))
      if (random() < 0.2) {
        const base = list.filter(a => a.height >= h - 20 && a.height < h)[0]
        list.push(ann(`x${String(h).padStart(4, '0')}`, base.height + 1, base.cid, { weight: 1 + Math.floor(random() * 4) }))
      }
      if (h > 40) list.push({ ...list.find(a => a.height === h - 40 && a.cid.startsWith('m'))!, finalized: true })
    }
    const whole = new ForkChoice()
    const bounded = new ForkChoice()
    for (const a of list) {
      whole.add(a); bounded.add(a)
      const fin = bounded.finalized()
      if (fin != null) bounded.checkpoint(fin.height)
      expect(bounded.tip()?.cid).toBe(whole.tip()?.cid)
    }
    expect(bounded.checkpointHeight).toBeGreaterThan(400)
    expect(bounded.size).toBeLessThan(whole.size / 2)
  })

  it('moves no checkpoint above the finalized height minus the margin', () => {
    const f = new ForkChoice()
    let prev: string | null = null
    for (let h = 0; h < 500; h++) { f.add(ann(`c${h}`, h, prev, { finalized: h === 300 })); prev = `c${h}` }
    expect(f.checkpoint(499)).toBeGreaterThan(0)
    expect(f.checkpointHeight).toBe(300 - CHECKPOINT_MARGIN)
    expect(f.finalized()?.cid).toBe('c300')
    // nothing finalized: no checkpoint at all
    const g = new ForkChoice()
    prev = null
    for (let h = 0; h < 500; h++) { g.add(ann(`c${h}`, h, prev)); prev = `c${h}` }
    expect(g.checkpoint(499)).toBe(0)
    expect(g.size).toBe(500)
  })

  it('checks announcement batches', () => {
    const cid = 'bafyreigdmqpykrgxyaxtlafqpqhzrb7qy2rh75nldvfd4tucqmqqme5yje'
    expect(checkAnnouncementBatch({ v: 1, blocks: [ann(cid, 0, null)] })).toBeUndefined()
    expect(checkAnnouncementBatch({ v: 1, blocks: [] })).toBeDefined()
    expect(checkAnnouncementBatch({ v: 1, blocks: [ann('nope', 0, null)] })).toBeDefined()
    expect(checkAnnouncementBatch({ v: 1, blocks: [ann(cid, 5, null)] })).toBeDefined()
    expect(checkAnnouncementBatch({ v: 1, blocks: [ann(cid, 1, cid, { weight: 0 })] })).toBeDefined()
    expect(checkAnnouncementBatch('garbage')).toBeDefined()
  })
})

describe('reorgs in the store', () => {
  let cleanup: (() => Promise<void>) | undefined
  afterEach(async () => { await cleanup?.(); cleanup = undefined })

  it('imports queued while an earlier one is being written see its blocks: again is a no-op, the next extends its tip, a fork of it is a side block; all read back after a reopen', async () => {
    const t = await openTestStore()
    cleanup = t.cleanup
    const { store } = t
    const limits = store.config.limits
    const main = t.chain.take(8, limits).map(b => encodeBlock(b, limits))
    // a block at height 5 whose parent is main[4]: a fork of the tip the second call's batch leaves
    const fork = encodeBlock(new SyntheticChain({ seed: 33, txsPerBlock: [5, 20], addresses: 50 }).resume({ height: 4, cid: main[4].cid }).next(limits), limits)
    const [a, again, next, side, last] = await Promise.all([
      store.importBlocks(main.slice(0, 3)),
      // planned while the first batch is in flight
      store.importBlocks(main.slice(1, 3)),
      store.importBlocks(main.slice(3, 6)),
      store.importBlocks([fork]),
      store.importBlocks(main.slice(6))
    ])
    expect(a.map(r => [r.created, r.canonical])).toEqual([[true, true], [true, true], [true, true]])
    expect(again.map(r => [r.created, r.canonical])).toEqual([[false, true], [false, true]])
    expect(next.map(r => [r.height, r.canonical])).toEqual([[3, true], [4, true], [5, true]])
    expect(side.map(r => [r.created, r.canonical])).toEqual([[true, false]])
    expect(last.map(r => r.height)).toEqual([6, 7])
    expect(store.head()).toEqual({ height: 7, cid: main[7].cid })
    await store.stop()
    const reopened = await t.reopen()
    expect(reopened.head()).toEqual({ height: 7, cid: main[7].cid })
    for (const b of main) expect(reopened.getBlockSync(b.height).cid.equals(b.cid)).toBe(true)
    expect(reopened.getBlockSync(fork.cid).header.height).toBe(5)
    expect((await reopened.getTransaction(main[5].txs[0].id)).height).toBe(5)
  })

  it('setCanonical swaps the index entries of the replaced blocks in one step and emits reorg', async () => {
    const t = await openTestStore()
    cleanup = t.cleanup
    const { store } = t
    const base = t.chain.take(5, store.config.limits)
    await store.storeBlocks(base)
    const head4 = store.head()!
    // branch A: local writes at 5, 6
    const a = new SyntheticChain({ seed: 11, txsPerBlock: [5, 20], addresses: 50 }).resume(head4).take(2, store.config.limits)
    const storedA = await store.storeBlocks(a)
    const txA = storedA[1].txIds[0]
    // branch B from a peer: 5', 6', 7' arrive as side blocks
    const bInputs = new SyntheticChain({ seed: 22, txsPerBlock: [5, 20], addresses: 50 }).resume(head4).take(3, store.config.limits)
    const bEnc = bInputs.map(b => encodeBlock(b, store.config.limits))
    const imported = await store.importBlocks(bEnc)
    expect(imported.map(r => r.canonical)).toEqual([false, false, false])
    expect(store.head()!.cid.equals(storedA[1].cid)).toBe(true)
    // a side block reads by CID with its own transaction ids
    expect((await store.getBlock(bEnc[0].cid)).txIds.map(String)).toEqual(bEnc[0].txs.map(t => t.id.toString()))
    expect(() => store.getTransactionSync(bEnc[0].txs[0].id)).toThrow(TransactionNotFoundError)

    const events: any[] = []
    store.events.on('reorg', e => events.push(e))
    await store.getBlock(6) // cached by height before the reorg
    const ev = await store.setCanonical(bEnc[2].cid)
    expect(ev?.forkHeight).toBe(4)
    expect(events).toHaveLength(1)
    expect(events[0].removed.map(String)).toEqual(storedA.map(s => s.cid.toString()))
    expect(store.head()).toEqual({ height: 7, cid: bEnc[2].cid })
    expect((await store.getBlock(6)).cid.equals(bEnc[1].cid)).toBe(true)
    expect((await store.getTransaction(bEnc[2].txs[0].id)).height).toBe(7)
    expect(() => store.getTransactionSync(txA)).toThrow(TransactionNotFoundError)
    // address history holds only canonical transactions
    const from = (await store.getTransaction(bEnc[1].txs[0].id)).transaction.from
    let items: string[] = []
    for (let cursor: string | undefined, page; (page = await store.getAddressHistory(from, { limit: 100, cursor })) != null;) {
      items = items.concat(page.items.map(i => i.id.toString()))
      if (page.cursor == null) break
      cursor = page.cursor
    }
    expect(items).toContain(bEnc[1].txs[0].id.toString())
    for (const s of storedA) for (const id of s.txIds) expect(items).not.toContain(id.toString())

    // and back: the old branch is still stored, a reorg to it restores its entries
    await store.setCanonical(storedA[1].cid)
    expect(store.head()!.height).toBe(6)
    expect((await store.getTransaction(txA)).height).toBe(6)
    await expect(store.getBlock(7)).rejects.toThrow(BlockNotFoundError)
    // a local write may not extend a side branch
    const onSide = new SyntheticChain({ seed: 33, txsPerBlock: 5 }).resume({ height: 7, cid: bEnc[2].cid }).next(store.config.limits)
    await expect(store.storeBlock(onSide)).rejects.toThrow(/side branch/)
  })
})
