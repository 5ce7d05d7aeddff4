import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { ChainStore } from '../src/index.ts'
import { emptyAccount, verifyProof } from '../src/state/index.ts'
import { linksOf } from '../src/codec/links.ts'
import { openTestStore } from './helpers/store.ts'

const key = (i: number): Uint8Array => Uint8Array.from({ length: 20 }, (_, j) => (i * 31 + j) % 256)

/** Commits heights 1..n, each changing a few accounts (so every root differs). */
async function commitHeights (store: ChainStore, n: number): Promise<void> {
  for (let h = 1; h <= n; h++) {
    for (let i = 0; i < 20; i++) await store.state.put(key(i), { ...emptyAccount(), balance: BigInt(h * 1000 + i), nonce: h })
    await store.state.commit(h)
  }
}

/**
 * True when every node of the trie under the root recorded at `height` is on
 * disk here (walked from the blockstore, not through the state's node cache),
 * and its reads give that height's values.
 */
async function trieWhole (store: ChainStore, height: number): Promise<boolean> {
  const root = await store.state.rootAt(height)
  if (root == null) return false
  const stack = [root]
  while (stack.length > 0) {
    const cid = stack.pop()!
    const bytes = store.localBytes(cid)
    if (bytes == null) return false
    stack.push(...(linksOf(cid, bytes) ?? []))
  }
  for (let i = 0; i < 20; i++) if ((await store.state.getFromTrie(key(i), { height }))?.nonce !== height) return false
  return true
}

describe('state in the store: roots pinned by policy', () => {
  let cleanup: (() => Promise<void>) | undefined
  afterEach(async () => { await cleanup?.(); cleanup = undefined })

  it('archive keeps every committed root through GC and a restart; proofs verify against them', async () => {
    const t = await openTestStore()
    cleanup = t.cleanup
    await commitHeights(t.store, 5)
    await t.store.gc()
    for (let h = 1; h <= 5; h++) expect(await trieWhole(t.store, h)).toBe(true)
    await t.store.stop()
    const back = await t.reopen()
    await back.gc()
    expect(await trieWhole(back, 2)).toBe(true)
    const proof = await back.state.prove(key(3), { height: 2 })
    expect((await verifyProof((await back.state.rootAt(2))!, key(3), proof.nodes))?.balance).toBe(2003n)
    expect((await back.state.get(key(3)))?.balance).toBe(5003n)
  })

  it('a state window keeps the recent roots; GC collects the older tries; rollback inside the window works and releases what it dropped', async () => {
    const t = await openTestStore({ pinning: { preset: 'validator', rules: [{ kinds: ['header', 'page'] }, { kinds: ['state'], window: 3 }] } })
    cleanup = t.cleanup
    const store = t.store
    await commitHeights(store, 6)
    await store.gc()
    expect(await trieWhole(store, 1)).toBe(false)
    expect(await trieWhole(store, 3)).toBe(false)
    for (const h of [4, 5, 6]) expect(await trieWhole(store, h)).toBe(true)

    // back to 5: the root at 6 loses its pin and goes with the next GC
    const root6 = (await store.state.rootAt(6))!
    await store.state.rollback(5)
    expect((await store.state.get(key(0)))?.nonce).toBe(5)
    await store.gc()
    expect(store.localBytes(root6)).toBeUndefined()
    expect(await trieWhole(store, 5)).toBe(true)
    expect(await trieWhole(store, 4)).toBe(true)
  })

  it('with no state rule (light), only the latest root is kept', async () => {
    const t = await openTestStore({ pinning: { preset: 'light' } })
    cleanup = t.cleanup
    await commitHeights(t.store, 4)
    await t.store.gc()
    expect(await trieWhole(t.store, 4)).toBe(true)
    expect(await trieWhole(t.store, 3)).toBe(false)
    expect((await t.store.state.get(key(7)))?.balance).toBe(4007n)
  })

  it('a snapshot exported by one store imports into an empty one with the same root, pinned through GC', async () => {
    const a = await openTestStore()
    const b = await openTestStore()
    cleanup = async () => { await a.cleanup(); await b.cleanup() }
    await commitHeights(a.store, 3)
    const file = join(a.dir, 'state-3.car')
    const info = await a.store.exportStateSnapshot(3, file)
    const manifest = await b.store.importStateSnapshot(file)
    expect(manifest.stateRoot.equals(info.stateRoot)).toBe(true)
    expect(b.store.state.head()?.root.equals((await a.store.state.rootAt(3))!)).toBe(true)
    await b.store.gc()
    expect(await trieWhole(b.store, 3)).toBe(true)
    expect((await b.store.state.get(key(1)))?.balance).toBe(3001n)
  })
})
