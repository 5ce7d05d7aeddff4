import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { CID } from 'multiformats/cid'
import { bytesMatchCid } from '../src/codec/cid.ts'
import { toJson } from '../src/codec/json.ts'
import type { ChainStore } from '../src/index.ts'
import { TRANSFER_TOPIC, type SyntheticChain } from '../src/synthetic/chain.ts'
import { sizesMaxAge } from '../src/node/status.ts'
import { openTestStore } from './helpers/store.ts'
import { until } from './helpers/wait.ts'

let ctx: Awaited<ReturnType<typeof openTestStore>> | undefined
afterEach(async () => { await ctx?.cleanup(); ctx = undefined })

async function withChain (blocks: number, config = {}): Promise<{ store: ChainStore, chain: SyntheticChain, stored: Awaited<ReturnType<ChainStore['storeBlocks']>> }> {
  ctx = await openTestStore(config)
  const stored = await ctx.store.storeBlocks(ctx.chain.take(blocks, ctx.store.config.limits))
  return { store: ctx.store, chain: ctx.chain, stored }
}

describe('storing and reading blocks', () => {
  it('storeBlocks returns block CIDs and transaction ids, and head follows', async () => {
    const { store, stored } = await withChain(12)
    expect(stored).toHaveLength(12)
    expect(stored.every(s => s.created)).toBe(true)
    expect(store.head()?.height).toBe(11)
    expect(store.head()?.cid.equals(stored[11].cid)).toBe(true)
    const block = await store.getBlock(4)
    expect(block.cid.equals(stored[4].cid)).toBe(true)
    expect(block.txIds.map(String)).toEqual(stored[4].txIds.map(String))
    expect(block.transactions).toHaveLength(block.header.txCount)
    expect(block.header.parent?.equals(stored[3].cid)).toBe(true)
  })

  it('calls in flight at once reach the writer in call order, though a large batch encodes in slices and a small one after it finishes first', async () => {
    ctx = await openTestStore({}, { txsPerBlock: 200 })
    const big = ctx.chain.take(30, ctx.store.config.limits)
    const small = ctx.chain.take(1, ctx.store.config.limits)
    const [a, b] = await Promise.all([ctx.store.storeBlocks(big), ctx.store.storeBlocks(small)])
    expect(a).toHaveLength(30)
    expect(b[0].height).toBe(30)
    expect(ctx.store.head()?.height).toBe(30)
  })

  it('a call made while an earlier one is being written sees its blocks: stored again is a no-op, another block at its height a conflict; the calls after a refused one still land', async () => {
    ctx = await openTestStore({}, { txsPerBlock: 20 })
    const { SyntheticChain } = await import('../src/synthetic/chain.ts')
    const limits = ctx.store.config.limits
    const first = ctx.chain.take(4, limits)
    const other = new SyntheticChain({ txsPerBlock: 20, seed: 99 }).take(4, limits)
    const next = ctx.chain.take(2, limits)
    const [a, again, conflict, b] = await Promise.allSettled([
      ctx.store.storeBlocks(first),
      ctx.store.storeBlocks(first.slice(2)),
      // height 3 is taken by the first call's batch, which is not durable yet when this one is planned
      ctx.store.storeBlocks([other[3]]),
      ctx.store.storeBlocks(next)
    ])
    expect(a.status === 'fulfilled' && a.value.map(s => s.created)).toEqual([true, true, true, true])
    expect(again.status === 'fulfilled' && again.value.map(s => s.created)).toEqual([false, false])
    expect(conflict.status === 'rejected' && (conflict.reason as Error).name).toBe('HeightConflictError')
    expect(b.status === 'fulfilled' && b.value.map(s => s.height)).toEqual([4, 5])
    expect(ctx.store.head()?.height).toBe(5)
    const stored = a.status === 'fulfilled' ? a.value : []
    expect((await ctx.store.getBlock(3)).cid.toString()).toBe(stored[3]?.cid.toString())
  })

  it('reads a block by height, by CID and by CID string, header alone too', async () => {
    const { store, stored } = await withChain(3)
    const byCid = await store.getBlock(stored[2].cid)
    const byString = await store.getBlock(stored[2].cid.toString())
    expect(byCid.header.height).toBe(2)
    expect(byString.cid.equals(byCid.cid)).toBe(true)
    const header = await store.getHeader(1)
    expect(header.cid.equals(stored[1].cid)).toBe(true)
    expect(header.txPages.length).toBeGreaterThan(0)
  })

  it('transaction ids in results and block events are each block\'s CIDs of its transactions\' bytes, seen by JSON and spreads as by property reads', async () => {
    ctx = await openTestStore({}, { txsPerBlock: 20 })
    const events: Array<{ height: number, txIds?: CID[] }> = []
    ctx.store.events.on('block', e => { events.push(e) })
    const blocks = ctx.chain.take(2, ctx.store.config.limits)
    const stored = await ctx.store.storeBlocks(blocks)
    for (const [i, s] of stored.entries()) {
      const read = await ctx.store.getBlock(s.height)
      const expected = read.txIds.map(String)
      expect(expected).toHaveLength(20)
      // each id finds its transaction at its place in the block
      for (const [index, id] of read.txIds.entries()) expect(await ctx.store.getTransaction(id)).toMatchObject({ height: s.height, index })
      expect(s.txIds.map(String)).toEqual(expected)
      expect((JSON.parse(JSON.stringify(s)) as { txIds: Array<{ '/': string }> }).txIds.map(x => x['/'])).toEqual(expected)
      expect({ ...s }.txIds.map(String)).toEqual(expected)
      expect(Object.keys(s).sort()).toEqual(['cid', 'created', 'height', 'txIds'])
      expect(events[i].txIds?.map(String)).toEqual(expected)
    }
    // stored again: no-op results name the same ids
    const again = await ctx.store.storeBlocks(blocks)
    expect(again.map(s => s.created)).toEqual([false, false])
    expect(again[1].txIds.map(String)).toEqual(stored[1].txIds.map(String))
  })

  it('storing the same blocks twice is a no-op', async () => {
    const { store, chain, stored } = await withChain(5)
    const before = await store.status()
    const again = await store.storeBlocks(chain.take(0, store.config.limits))
    expect(again).toEqual([])
    const { SyntheticChain } = await import('../src/synthetic/chain.ts')
    const replay = new SyntheticChain({ txsPerBlock: [5, 20], addresses: 50 }).take(5, store.config.limits)
    const second = await store.storeBlocks(replay)
    expect(second.map(s => s.created)).toEqual([false, false, false, false, false])
    expect(second.map(s => s.cid.toString())).toEqual(stored.map(s => s.cid.toString()))
    expect(store.head()?.height).toBe(4)
    expect((await store.status()).head?.height).toBe(before.head?.height)
  })

  it('getBlocks streams a height range in order', async () => {
    const { store } = await withChain(10)
    const heights: number[] = []
    for await (const b of store.getBlocks(3, 7)) heights.push(b.header.height)
    expect(heights).toEqual([3, 4, 5, 6, 7])
  })

  it('getTransaction gives the transaction with its block, page and position', async () => {
    const { store, stored } = await withChain(4)
    const block = await store.getBlock(2)
    const i = Math.floor(block.transactions.length / 2)
    const rec = await store.getTransaction(stored[2].txIds[i])
    expect(rec.height).toBe(2)
    expect(rec.blockCid.equals(stored[2].cid)).toBe(true)
    expect(rec.index).toBe(i)
    expect(rec.pageCid.equals(block.header.txPages[rec.page])).toBe(true)
    expect(rec.transaction).toEqual(block.transactions[i])
    // the id verifies against the transaction inside its page
    const viaString = await store.getTransaction(stored[2].txIds[i].toString())
    expect(viaString.transaction).toEqual(rec.transaction)
    // a plain copy holds every field (JSON, the HTTP API and logs go through toJSON)
    const plain = JSON.parse(toJson(rec))
    expect(Object.keys(plain).sort()).toEqual(['blockCid', 'height', 'id', 'index', 'page', 'pageCid', 'position', 'transaction'])
    expect(plain.blockCid).toBe(stored[2].cid.toString())
    expect(plain.transaction.from).toBe(block.transactions[i].from)
  })

  it('a transaction id string is parsed to the same CID CID.parse gives, and a malformed one is refused', async () => {
    const { store, stored } = await withChain(2)
    for (const id of stored[1].txIds) {
      const rec = store.getTransactionSync(id.toString())
      expect(rec.id.equals(id)).toBe(true)
      expect(rec.id.toString()).toBe(id.toString())
    }
    const s = stored[1].txIds[0].toString()
    // a character outside base32, non-zero pad bits: each refused as CID.parse refuses it
    for (const bad of [s.slice(0, -1) + '1', s.slice(0, -1) + 'b', s.slice(0, -1)]) {
      expect(() => CID.parse(bad)).toThrow()
      expect(() => store.getTransactionSync(bad)).toThrow(expect.objectContaining({ name: 'InvalidCidError' }))
    }
    // other CID forms still parse (base58 CIDv0 of a dag-pb block, base32 raw): not chainstore transaction ids
    expect(() => store.getTransactionSync('QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG')).toThrow(expect.objectContaining({ name: 'TransactionNotFoundError' }))
    expect(() => store.getTransactionSync('bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy')).toThrow(expect.objectContaining({ name: 'TransactionNotFoundError' }))
  })

  it('receipts are stored with their block and getLogs answers from the index', async () => {
    const { store, stored } = await withChain(8)
    const receipt = await store.getReceipt(stored[3].txIds[0])
    expect([0, 1]).toContain(receipt.receipt.status)
    expect(receipt.receipt.gasUsed).toBeGreaterThan(0)
    expect(receipt.height).toBe(3)

    const all = await store.getLogs({ topics: [TRANSFER_TOPIC], limit: 10_000 })
    expect(all.length).toBeGreaterThan(0)
    // every log found by topic matches its receipt
    for (const log of all.slice(0, 5)) {
      const r = await store.getReceipt(log.txId)
      expect(r.receipt.logs[log.logIndex]).toEqual({ address: log.address, topics: log.topics, data: log.data })
    }
    const one = all[all.length - 1]
    const byAddress = await store.getLogs({ address: one.address })
    expect(byAddress.some(l => l.txId.equals(one.txId))).toBe(true)
    expect(byAddress.every(l => l.address === one.address)).toBe(true)
    const ranged = await store.getLogs({ topics: [TRANSFER_TOPIC], fromHeight: 2, toHeight: 4 })
    expect(ranged.every(l => l.height >= 2 && l.height <= 4)).toBe(true)
    expect(ranged.length).toBe(all.filter(l => l.height >= 2 && l.height <= 4).length)
    const bySender = await store.getLogs({ topics: [null, one.topics[1]] })
    expect(bySender.every(l => l.topics[1] === one.topics[1])).toBe(true)
    expect(bySender.length).toBeGreaterThan(0)
    const none = await store.getLogs({ topics: [TRANSFER_TOPIC, '0x' + '00'.repeat(32)] })
    expect(none).toEqual([])
  })

  it('getReceipt of a block stored without receipts is a ReceiptNotFoundError', async () => {
    ctx = await openTestStore()
    const block = ctx.chain.next(ctx.store.config.limits)
    delete block.receipts
    const [stored] = await ctx.store.storeBlocks([block])
    await expect(ctx.store.getReceipt(stored.txIds[0])).rejects.toHaveProperty('name', 'ReceiptNotFoundError')
  })

  it('address history pages forward and backward with cursors, covering sender and recipient', async () => {
    const { store, chain } = await withChain(15)
    // the index must agree with a scan of every block; take the busiest address
    const scan = new Map<string, string[]>()
    for await (const b of store.getBlocks(0, 14)) {
      b.transactions.forEach((tx, i) => {
        for (const a of new Set([tx.from, tx.to])) if (a != null) scan.set(a, [...(scan.get(a) ?? []), b.txIds[i].toString()])
      })
    }
    const [address, expected] = [...scan.entries()].sort((a, b) => b[1].length - a[1].length)[0]
    expect(chain.addresses).toContain(address)
    const seen: string[] = []
    let cursor: string | undefined
    do {
      const page = await store.getAddressHistory(address, { limit: 4, cursor })
      expect(page.items.length).toBeLessThanOrEqual(4)
      for (const item of page.items) {
        expect([item.transaction.from, item.transaction.to]).toContain(address)
        seen.push(item.id.toString())
      }
      cursor = page.cursor
    } while (cursor != null)
    expect(new Set(seen).size).toBe(seen.length)
    expect(seen).toEqual(expected)
    expect(seen.length).toBeGreaterThan(4)
    const reversed: string[] = []
    cursor = undefined
    do {
      const page = await store.getAddressHistory(address, { limit: 5, cursor, reverse: true })
      reversed.push(...page.items.map(i => i.id.toString()))
      cursor = page.cursor
    } while (cursor != null)
    expect(reversed).toEqual([...expected].reverse())
    const never = await store.getAddressHistory('0x' + '12'.repeat(20))
    expect(never.items).toEqual([])
    expect(never.cursor).toBeUndefined()
  })

  it('a block stored through the API is readable by CID through helia.blockstore', async () => {
    const { store, stored } = await withChain(2)
    const header = await store.getHeader(1)
    for (const cid of [stored[1].cid, ...header.txPages, ...header.receiptPages]) {
      const chunks: Uint8Array[] = []
      for await (const c of store.helia.blockstore.get(cid)) chunks.push(c)
      expect(bytesMatchCid(cid, Buffer.concat(chunks))).toBe(true)
    }
  })

  it('putBytes/getBytes round-trip raw and dag-cbor; addFile/cat round-trip a multi-block UnixFS file', async () => {
    ctx = await openTestStore()
    const store = ctx.store
    const raw = new TextEncoder().encode('hello chainstore')
    const cid = await store.putBytes(raw)
    expect(cid.code).toBe(0x55)
    expect(Buffer.from(await store.getBytes(cid)).toString()).toBe('hello chainstore')
    const cbor = await store.putBytes(Uint8Array.of(0xa1, 0x61, 0x61, 0x01), { codec: 'dag-cbor' })
    expect(cbor.code).toBe(0x71)
    await expect(store.putBytes(Uint8Array.of(0xff, 0x00), { codec: 'dag-cbor' })).rejects.toHaveProperty('name', 'InvalidBlockError')

    const payload = new Uint8Array(2_500_000)
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff
    const file = await store.addFile(payload)
    expect(file.version).toBe(1)
    const parts: Uint8Array[] = []
    for await (const chunk of store.cat(file)) parts.push(chunk)
    expect(Buffer.compare(Buffer.concat(parts), Buffer.from(payload))).toBe(0)
    const pins: string[] = []
    for await (const p of store.pins()) pins.push(`${p.cid.toString()}:${p.reasons.join(',')}`)
    expect(pins).toContain(`${file.toString()}:blob`)
    await expect(store.getBytes(CID.parse('bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'))).rejects.toHaveProperty('name', 'BlockNotFoundError')
  })

  it('stop and reopen keeps every block, index entry, pin and the head', async () => {
    const { store, stored, chain } = await withChain(6)
    const txId = stored[5].txIds[1]
    const before = await store.getTransaction(txId)
    const history = await store.getAddressHistory(chain.addresses[1])
    await store.stop()
    await expect(store.getBlock(1)).rejects.toHaveProperty('name', 'StoreClosedError')
    const reopened = await ctx!.reopen()
    expect(reopened.head()?.cid.equals(stored[5].cid)).toBe(true)
    // records compared whole: their decoded fields are getters, which toEqual does not look at
    expect(toJson(await reopened.getTransaction(txId))).toBe(toJson(before))
    expect(toJson(await reopened.getAddressHistory(chain.addresses[1]))).toBe(toJson(history))
    let pins = 0
    for await (const p of reopened.pins()) if (p.reasons.includes('chain')) pins++
    expect(pins).toBe(6)
    // and the chain continues where it stopped
    const [next] = await reopened.storeBlocks([chain.next(reopened.config.limits)])
    expect(next.height).toBe(6)
    expect(next.created).toBe(true)
  })

  it('cached reads return the same objects and count hits', async () => {
    const { store, stored } = await withChain(3)
    const a = await store.getBlock(1)
    const b = await store.getBlock(1)
    expect(b).toBe(a)
    const t1 = store.getTransactionSync(stored[1].txIds[0])
    const t2 = store.getTransactionSync(stored[1].txIds[0])
    expect(t2).toBe(t1)
    const { cache } = await store.status()
    expect(cache.hits).toBeGreaterThanOrEqual(2)
    expect(cache.bytes).toBeLessThanOrEqual(cache.maxBytes)
  })

  it('the memory tier stays within its byte budget', async () => {
    const { store } = await withChain(40, { cache: { maxBytes: 64 * 1024 } })
    for (let h = 0; h < 40; h++) await store.getBlock(h)
    const { cache } = await store.status()
    expect(cache.bytes).toBeLessThanOrEqual(64 * 1024)
    expect(cache.entries).toBeLessThan(80)
  })

  it('status answers with the last measured sizes and measures again once they are older than 2 s, or 50 times what measuring took', async () => {
    const { store } = await withChain(3)
    const first = await store.status()
    await writeFile(join(store.config.dataDir, 'extra.bin'), new Uint8Array(1_000_000))
    // still the last measurement: answered without walking the data dir again
    expect((await store.status()).diskBytes).toBe(first.diskBytes)
    await until(async () => (await store.status()).diskBytes >= first.diskBytes + 1_000_000, 15_000, 'the sizes to be measured again')
    // a walk that took long is repeated that much less often
    expect(sizesMaxAge(1)).toBe(2_000)
    expect(sizesMaxAge(900)).toBe(45_000)
  })
})

describe('gaps and conflicts', () => {
  it('refuses a block whose parent is unknown unless allowGaps', async () => {
    ctx = await openTestStore()
    const blocks = ctx.chain.take(5, ctx.store.config.limits)
    await ctx.store.storeBlocks(blocks.slice(0, 2))
    await expect(ctx.store.storeBlock(blocks[3])).rejects.toHaveProperty('name', 'ParentNotFoundError')
    expect(ctx.store.head()?.height).toBe(1)
    await ctx.store.stop()
    const gappy = await ctx.reopen({ allowGaps: true })
    const [s] = await gappy.storeBlocks([blocks[3]])
    expect(s.created).toBe(true)
    expect(gappy.head()?.height).toBe(3)
    await expect(gappy.getBlock(2)).rejects.toHaveProperty('name', 'BlockNotFoundError')
    // the gap can be filled later
    await gappy.storeBlock(blocks[2])
    expect((await gappy.getBlock(2)).header.height).toBe(2)
  })

  it('accepts a batch whose parents are earlier in the same batch, in any order', async () => {
    ctx = await openTestStore()
    const blocks = ctx.chain.take(4, ctx.store.config.limits)
    const out = await ctx.store.storeBlocks([blocks[2], blocks[0], blocks[3], blocks[1]])
    expect(out.map(s => s.height)).toEqual([2, 0, 3, 1])
    expect(ctx.store.head()?.height).toBe(3)
  })

  it('refuses a different block at a stored height and keeps the stored one', async () => {
    ctx = await openTestStore()
    const blocks = ctx.chain.take(2, ctx.store.config.limits)
    const [, b1] = await ctx.store.storeBlocks(blocks)
    const rival = { ...blocks[1], timestamp: blocks[1].timestamp + 1 }
    await expect(ctx.store.storeBlock(rival)).rejects.toHaveProperty('name', 'HeightConflictError')
    expect((await ctx.store.getBlock(1)).cid.equals(b1.cid)).toBe(true)
  })

  it('refuses a parent at the wrong height', async () => {
    ctx = await openTestStore()
    const blocks = ctx.chain.take(3, ctx.store.config.limits)
    const [, b1] = await ctx.store.storeBlocks(blocks.slice(0, 2))
    const skip = { ...blocks[2], height: 5, parent: b1.cid }
    await expect(ctx.store.storeBlock(skip)).rejects.toHaveProperty('name', 'InvalidBlockError')
  })
})
