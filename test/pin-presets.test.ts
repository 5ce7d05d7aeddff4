import { afterEach, describe, expect, it } from 'vitest'
import { BlockNotFoundError, type ChainStore } from '../src/index.ts'
import { openTestStore } from './helpers/store.ts'

/** Per canonical height: 'dag' (header + pages pinned), 'header', or null, from the pin records. */
async function pinsByHeight (store: ChainStore): Promise<Map<number, 'dag' | 'header'>> {
  const out = new Map<number, 'dag' | 'header'>()
  for await (const p of store.pins()) if (p.reasons.includes('chain') && p.height != null) out.set(p.height, p.recursive ? 'dag' : 'header')
  return out
}

describe('pin presets applied as the head advances', () => {
  let cleanup: (() => Promise<void>) | undefined
  afterEach(async () => { await cleanup?.(); cleanup = undefined })

  it('calls in flight at once (each planned while the batch before it is written) move the window as one call after another would', async () => {
    const t = await openTestStore({ pinning: { preset: 'light', rules: [{ kinds: ['header'] }, { kinds: ['page'], window: 3 }] } })
    cleanup = t.cleanup
    const { store } = t
    // calls of 4 blocks then 1, none awaited before the next is made: the heights the 1-block calls
    // move out of the window are in the 4-block batch still being written when they are staged
    const calls = [4, 1, 4, 1, 4, 1].map(n => store.storeBlocks(t.chain.take(n, store.config.limits)))
    const results = (await Promise.all(calls)).flat()
    expect(results.map(r => r.height)).toEqual(Array.from({ length: 15 }, (_, h) => h))
    expect(results.every(r => r.created)).toBe(true)
    expect(store.head()?.height).toBe(14)
    const pins = await pinsByHeight(store)
    for (let h = 0; h < 15; h++) expect([h, pins.get(h)]).toEqual([h, h >= 12 ? 'dag' : 'header'])
  })

  it('light: every header stays, pages only within the window; GC then removes exactly the pages that left', async () => {
    const t = await openTestStore({ pinning: { preset: 'light', rules: [{ kinds: ['header'] }, { kinds: ['page'], window: 5 }] } })
    cleanup = t.cleanup
    const { store } = t
    for (let i = 0; i < 4; i++) await store.storeBlocks(t.chain.take(5, store.config.limits)) // heights 0..19, several head moves
    const pins = await pinsByHeight(store)
    for (let h = 0; h < 20; h++) expect(pins.get(h)).toBe(h >= 15 ? 'dag' : 'header')
    const summary = await store.gc()
    expect(summary.deleted).toBeGreaterThan(0)
    expect(summary.incompletePins).toBe(0)
    // recent blocks read whole; old ones keep their header, their pages are gone
    expect((await store.getBlock(19)).transactions.length).toBeGreaterThan(0)
    expect((await store.getHeader(3)).height).toBe(3)
    await expect(store.getBlock(3)).rejects.toThrow(BlockNotFoundError)
    // restart: the records persist and the next head move keeps applying the window
    await store.stop()
    const again = await t.reopen()
    await again.storeBlocks(t.chain.take(3, again.config.limits)) // head 22
    const later = await pinsByHeight(again)
    for (let h = 0; h < 23; h++) expect(later.get(h)).toBe(h >= 18 ? 'dag' : 'header')
  })

  it('validator: a window and finalized checkpoints; archive keeps every block whole', async () => {
    const v = await openTestStore({ pinning: { preset: 'validator', rules: [{ kinds: ['header', 'page'], window: 4 }, { kinds: ['header', 'page'], checkpointEvery: 5 }] } })
    cleanup = v.cleanup
    await v.store.storeBlocks(v.chain.take(12, v.store.config.limits))
    for (let i = 0; i < 4; i++) await v.store.storeBlocks(v.chain.take(2, v.store.config.limits)) // head 19
    const pins = await pinsByHeight(v.store)
    for (let h = 0; h < 20; h++) expect([h, pins.get(h) ?? null]).toEqual([h, h >= 16 || h % 5 === 0 ? 'dag' : null])
    await v.store.gc()
    await expect(v.store.getHeader(7)).rejects.toThrow(BlockNotFoundError)
    expect((await v.store.getBlock(10)).header.height).toBe(10)

    const a = await openTestStore()
    await a.store.storeBlocks(a.chain.take(30, a.store.config.limits))
    const all = await pinsByHeight(a.store)
    expect([...all.values()].every(p => p === 'dag')).toBe(true)
    expect((await a.store.gc()).deleted).toBe(0)
    await a.cleanup()
  })

  it('holds are counted by reason: a user pin survives the policy letting a block go, and never drops the chain hold', async () => {
    const t = await openTestStore({ pinning: { preset: 'light', rules: [{ kinds: ['header'] }, { kinds: ['page'], window: 5 }] } })
    cleanup = t.cleanup
    const { store } = t
    await store.storeBlocks(t.chain.take(10, store.config.limits)) // head 9: heights 5..9 whole
    const b8 = await store.getHeader(8)
    const page8 = b8.txPages[0]
    // the user pins block 8's header bytes and one of its pages
    await store.putBytes(store.localBytes(b8.cid)!, { codec: 'dag-cbor' })
    await store.putBytes(store.localBytes(page8)!)
    const rec = async (cid: any): Promise<any> => { for await (const p of store.pins()) if (p.cid.equals(cid)) return p }
    expect(await rec(b8.cid)).toMatchObject({ reasons: ['chain', 'user'], recursive: true })
    await store.storeBlocks(t.chain.take(10, store.config.limits)) // head 19: block 8 left the page window
    expect(await rec(b8.cid)).toMatchObject({ reasons: ['chain', 'user'], recursive: false })
    await store.gc()
    expect(store.localBytes(b8.cid)).toBeDefined()
    expect(store.localBytes(page8)).toBeDefined() // held by the user's pin on it
    expect(store.localBytes(b8.receiptPages[0])).toBeUndefined() // held by nobody any more
  })
})
