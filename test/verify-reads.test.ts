/**
 * Damage at rest never comes back as valid data: every block a chain read
 * takes from LevelDB is re-hashed against its CID and every transaction
 * record's bytes against the transaction id (config `verifyReads`, on by
 * default); a mismatch is a CorruptDataError naming the CID, counted in the
 * `chainstore_corrupt_reads_total` metric. The damage is written the way
 * LevelDB would hand it back: altered bytes under the original key.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { CorruptDataError } from '../src/index.ts'
import { logBlockKey } from '../src/indexes/postings.ts'
import { windowKey } from '../src/indexes/windows.ts'
import { verifyStore } from '../src/integrity/index.ts'
import { POSTINGS_WINDOW, PREFIX, blockKey, blockTxIdsKey, digestKey } from '../src/storage/keys.ts'
import { openTestStore } from './helpers/store.ts'
import { closeTestGateways, testGateway } from './helpers/gateway.ts'

type Opened = Awaited<ReturnType<typeof openTestStore>>
const open: Opened[] = []
afterEach(async () => { for (const t of open.splice(0)) await t.cleanup(); await closeTestGateways() })

async function storeWithChain (config: Record<string, unknown> = {}): Promise<Opened> {
  const t = await openTestStore({ cache: { maxBytes: 0 }, ...config })
  open.push(t)
  await t.store.storeBlocks(t.chain.take(3, t.store.config.limits))
  return t
}

/** Flips one byte of the stored value under `key` (in the blocks sublevel when `block`). */
async function flip (t: Opened, key: Uint8Array | string, block: boolean, at: (length: number) => number): Promise<void> {
  const m = t.store.maintenance()
  const target: any = block ? m.blocks : m.db
  const value: Uint8Array = await target.get(key)
  const altered = Uint8Array.from(value)
  altered[at(altered.length)] ^= 0x01
  await target.put(key, altered)
}

async function corruptReads (t: Opened): Promise<Record<string, number>> {
  const text = await t.store.metrics.registry.getSingleMetricAsString('chainstore_corrupt_reads_total')
  const out: Record<string, number> = {}
  for (const m of text.matchAll(/kind="(\w+)"\} (\d+)/g)) out[m[1]] = Number(m[2])
  return out
}

describe('verified local reads', () => {
  it('a flipped byte in a transaction page makes getBlock a CorruptDataError naming the page, counted in metrics', async () => {
    const t = await storeWithChain()
    const block = await t.store.getBlock(1)
    const page = block.header.txPages[0]
    await flip(t, blockKey(page), true, n => n - 3)
    const err = await t.store.getBlock(1).catch(e => e)
    expect(err).toBeInstanceOf(CorruptDataError)
    expect(err.message).toContain(page.toString())
    expect(err.cid).toBe(page.toString())
    expect(() => t.store.getBlockSync(1)).toThrow(CorruptDataError)
    expect((await corruptReads(t)).block).toBe(2)
    // the other blocks still read
    expect((await t.store.getBlock(2)).header.height).toBe(2)
  })

  it('a flipped byte in a header makes getHeader and getBlock fail, not return another header', async () => {
    const t = await storeWithChain()
    const cid = t.store.canonicalAt(0)!
    await flip(t, blockKey(cid), true, () => 5)
    await expect(t.store.getHeader(0)).rejects.toBeInstanceOf(CorruptDataError)
    await expect(t.store.getBlock(cid)).rejects.toBeInstanceOf(CorruptDataError)
  })

  it('a flipped byte in a transaction record\'s bytes makes getTransaction and getReceipt fail', async () => {
    const t = await storeWithChain()
    const id = (await t.store.getBlock(2)).txIds[0]
    await flip(t, digestKey(PREFIX.TX, id.multihash.digest), false, n => n - 1)
    await expect(t.store.getTransaction(id)).rejects.toBeInstanceOf(CorruptDataError)
    expect(() => t.store.getTransactionSync(id.toString())).toThrow(CorruptDataError)
    await expect(t.store.getReceipt(id)).rejects.toBeInstanceOf(CorruptDataError)
    expect((await corruptReads(t)).transaction).toBe(3)
  })

  it('with verifyReads: false (a trusted disk) damaged block bytes are read back unchecked', async () => {
    const t = await storeWithChain({ verifyReads: false })
    const page = (await t.store.getBlock(1)).header.txPages[0]
    const before = Uint8Array.from(t.store.localBytes(page)!)
    await flip(t, blockKey(page), true, n => n - 3)
    const after = t.store.localBytes(page)!
    expect(after).not.toEqual(before)
    expect((await corruptReads(t)).block ?? 0).toBe(0)
  })

  it('a flipped byte in a transaction record\'s location (no CID covers it) fails the record\'s checksum', async () => {
    const t = await storeWithChain({ verifyReads: false })
    const id = (await t.store.getBlock(2)).txIds[0]
    // byte 100: inside the height field of the record's fixed head
    await flip(t, digestKey(PREFIX.TX, id.multihash.digest), false, () => 100)
    await expect(t.store.getTransaction(id)).rejects.toThrow(/fail their checksum/)
  })

  it('a flipped byte in a block\'s transaction id list fails its checksum instead of naming other transactions', async () => {
    const t = await storeWithChain()
    await flip(t, blockTxIdsKey(1), false, () => 7)
    expect(() => t.store.getBlockSync(1)).toThrow(CorruptDataError)
  })

  it('a flipped byte in a block\'s log record fails its checksum: getLogs is a CorruptDataError, verify names it, repair --reindex rebuilds it', async () => {
    const t = await storeWithChain()
    const before = await t.store.getLogs({ fromHeight: 1, toHeight: 1 })
    expect(before.length).toBeGreaterThan(0)
    // inside the first log's record (after the count and the offset table)
    await flip(t, logBlockKey(1), false, n => n - 20)
    await expect(t.store.getLogs({ fromHeight: 1, toHeight: 1 })).rejects.toThrow(/log block: the stored bytes fail their checksum/)
    await expect(t.store.getLogs({ address: before[0].address })).rejects.toThrow(CorruptDataError)
    const found = await verifyStore(t.store)
    expect(found.findings.some(f => f.kind === 'dangling-index' && /log record of height 1 is damaged/.test(f.message))).toBe(true)
    const repaired = await verifyStore(t.store, { repair: true, reindex: true })
    expect(repaired.unfixed).toEqual([])
    expect(await t.store.getLogs({ fromHeight: 1, toHeight: 1 })).toEqual(before)
  })

  it('an address history entry that names a transaction of another address (a damaged posting list) is a CorruptDataError, counted', async () => {
    const t = await storeWithChain()
    const tx = (await t.store.getBlock(2)).transactions[0]
    // past the first postings window: window 0 is written to disk when the head leaves it
    await t.store.storeBlocks(t.chain.take(POSTINGS_WINDOW, t.store.config.limits))
    const stranger = '0x' + 'ab'.repeat(20)
    const base = (hex: string): Uint8Array => Uint8Array.of(PREFIX.ADDRESS_WINDOW, ...Buffer.from(hex.slice(2), 'hex'))
    // the sender's window 0, as if a flipped key byte had moved it under another address
    const m = t.store.maintenance()
    const value = await m.db.get(windowKey(base(tx.from), 0))
    await m.db.put(windowKey(base(stranger), 0), value!)
    await expect(t.store.getAddressHistory(stranger)).rejects.toThrow(/posting list is damaged/)
    expect((await corruptReads(t)).index).toBe(1)
    expect((await t.store.getAddressHistory(tx.from)).items.length).toBeGreaterThan(0)
  })

  it('a flipped byte in a postings window on disk is a CorruptDataError (its CRC), and verify --repair --reindex rebuilds it from the blocks', async () => {
    const t = await storeWithChain()
    const tx = (await t.store.getBlock(2)).transactions[0]
    await t.store.storeBlocks(t.chain.take(POSTINGS_WINDOW, t.store.config.limits))
    const before = await t.store.getAddressHistory(tx.from, { limit: 50 })
    const key = windowKey(Uint8Array.of(PREFIX.ADDRESS_WINDOW, ...Buffer.from(tx.from.slice(2), 'hex')), 0)
    await flip(t, key, false, n => n >> 1)
    await expect(t.store.getAddressHistory(tx.from, { limit: 50 })).rejects.toThrow(CorruptDataError)
    const found = await verifyStore(t.store)
    expect(found.findings.some(f => f.kind === 'dangling-index' && /address history window from height 0 is damaged/.test(f.message))).toBe(true)
    const repaired = await verifyStore(t.store, { repair: true, reindex: true })
    expect(repaired.unfixed).toEqual([])
    expect((await t.store.getAddressHistory(tx.from, { limit: 50 })).items.map(i => i.id.toString())).toEqual(before.items.map(i => i.id.toString()))
  })

  it('a damaged block is fetched again from a gateway: getBytes answers with the verified copy at once, a chain read after the background repair', async () => {
    const source = await storeWithChain()
    const held = new Map<string, Uint8Array>()
    const header = source.store.getHeaderSync(1)
    for (const c of [header.cid, ...header.txPages, ...header.receiptPages]) held.set(c.toString(), source.store.localBytes(c)!)
    const gw = await testGateway('honest', held)
    const t = await openTestStore({ cache: { maxBytes: 0 }, gateways: { enabled: true, urls: [gw.url], timeoutMs: 2_000 } })
    open.push(t)
    await t.store.storeBlocks(t.chain.take(3, t.store.config.limits))
    const [page, receipts] = [header.txPages[0], header.receiptPages[0]]
    await flip(t, blockKey(page), true, n => n - 3)
    await flip(t, blockKey(receipts), true, n => n - 3)
    // the chain read fails now, and queues the page for repair
    expect(() => t.store.getBlockSync(1)).toThrow(CorruptDataError)
    const deadline = Date.now() + 10_000
    let block
    while (block == null && Date.now() < deadline) {
      try { block = t.store.getBlockSync(1) } catch { await new Promise(resolve => setTimeout(resolve, 50)) }
    }
    expect(block?.cid.equals(header.cid)).toBe(true)
    // getBytes does not wait for the queue: it takes the network's verified copy and writes it over the damaged one
    expect(await t.store.getBytes(receipts)).toEqual(held.get(receipts.toString()))
    expect(t.store.localBytes(receipts)).toEqual(held.get(receipts.toString()))
  })

  it('store.blockstore and store.helia.blockstore refuse damaged bytes too (they are what others read our blocks through)', async () => {
    const t = await storeWithChain()
    const page = (await t.store.getBlock(1)).header.txPages[0]
    await flip(t, blockKey(page), true, n => n - 3)
    const drain = async (it: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<number> => { let n = 0; for await (const c of it) n += c.length; return n }
    await expect(drain(t.store.blockstore.get(page))).rejects.toBeInstanceOf(CorruptDataError)
    await expect(drain(t.store.helia.blockstore.get(page))).rejects.toThrow(/do not hash to it/)
  })
})
