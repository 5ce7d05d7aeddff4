import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Trie } from '@ethereumjs/trie'
import fc from 'fast-check'
import { CID } from 'multiformats/cid'
import { afterEach, describe, expect, it } from 'vitest'
import { linksOf } from '../src/codec/links.ts'
import { createLogger } from '../src/logger.ts'
import { collectGarbage } from '../src/pinning/gc.ts'
import { holdInBatch } from '../src/pinning/records.ts'
import { blockKey } from '../src/storage/keys.ts'
import { openLevel, type BlocksDb, type RootDb } from '../src/storage/level.ts'
import { addScore, emptyAccount, encodeAccount } from '../src/state/account.ts'
import { EMPTY_ROOT_CID, EMPTY_ROOT_HASH, EMPTY_TRIE_NODE, FLAT_META_KEY, keccak256 } from '../src/state/keys.ts'
import { StateStore, verifyProof, type AccountState } from '../src/state/index.ts'

const logger = createLogger({ level: 'silent' })
const LEVEL = { writeBufferSize: 4 * 1024 * 1024, cacheSize: 8 * 1024 * 1024 }

interface Opened { state: StateStore, db: RootDb, blocks: BlocksDb, dir: string, reopen: () => Promise<StateStore>, close: () => Promise<void> }
const cleanups: Array<() => Promise<void>> = []
afterEach(async () => { for (const c of cleanups.splice(0)) await c() })

async function openState (): Promise<Opened> {
  const dir = await mkdtemp(join(tmpdir(), 'chainstore-state-'))
  let level = await openLevel(dir, LEVEL)
  const o: Opened = {
    state: await StateStore.open({ ...level, sync: false, logger }),
    db: level.db,
    blocks: level.blocks,
    dir,
    reopen: async () => {
      await o.state.close()
      await level.db.close()
      level = await openLevel(dir, LEVEL)
      o.db = level.db
      o.blocks = level.blocks
      o.state = await StateStore.open({ ...level, sync: false, logger })
      return o.state
    },
    close: async () => { await o.state.close(); await level.db.close(); await rm(dir, { recursive: true, force: true }) }
  }
  cleanups.push(o.close)
  return o
}

/** A 20-byte address from a number. */
function addr (i: number): Uint8Array {
  return keccak256(new TextEncoder().encode(`account ${i}`)).subarray(12)
}

function account (i: number, extra: Partial<AccountState> = {}): AccountState {
  return { ...emptyAccount(), balance: 10n ** 20n + BigInt(i), nonce: i, stake: BigInt(i * 7), validator: i % 3 === 0 ? 'active' : 'none', score: addScore(addScore(emptyAccount().score, i % 10), 3.5), ...extra }
}

async function expectFlatMatchesTrie (state: StateStore, keys: Uint8Array[]): Promise<void> {
  expect(state.flatFresh).toBe(true)
  for (const k of keys) expect(await state.get(k)).toEqual(await state.getFromTrie(k))
}

describe('state store', () => {
  it('put/get/delete: uncommitted changes are visible, commit records the root per height', async () => {
    const { state, db } = await openState()
    expect(state.head()).toBeUndefined()
    expect(state.root().equals(EMPTY_ROOT_CID)).toBe(true)
    // the empty root is written out in keys.ts (not hashed at import): it must be the hash of the empty node
    expect(EMPTY_ROOT_HASH).toEqual(keccak256(EMPTY_TRIE_NODE))
    await state.put(addr(1), account(1))
    await state.put(addr(2), account(2))
    expect(await state.get(addr(1))).toEqual(account(1))
    expect(state.pendingChanges).toBe(2)
    // nothing reaches LevelDB before commit
    expect(await state.rootAt(1)).toBeUndefined()
    const working = state.root()
    const c1 = await state.commit(1)
    expect(c1.root.equals(working)).toBe(true)
    expect(c1.nodes).toBeGreaterThan(0)
    expect((await state.rootAt(1))?.equals(c1.root)).toBe(true)
    expect(state.head()).toEqual({ height: 1, root: c1.root })
    await state.delete(addr(2))
    expect(await state.get(addr(2))).toBeUndefined()
    expect(await state.getFromTrie(addr(2), { height: 1 })).toEqual(account(2))
    const c2 = await state.commit(2)
    expect(c2.root.equals(c1.root)).toBe(false)
    // a root written with the same content is the same root: deleting 2 gives the root of {1}
    const fresh = new Trie()
    await fresh.put(addr(1), encodeAccount(account(1)))
    expect(Buffer.from(c2.root.multihash.digest).equals(Buffer.from(fresh.root()))).toBe(true)
    // roots are CIDv1(eth-state-trie 0x96, keccak-256 0x1b)
    expect(c2.root.code).toBe(0x96)
    expect(c2.root.multihash.code).toBe(0x1b)
    expect(Uint8Array.from((await db.get(FLAT_META_KEY))!)).toEqual(Uint8Array.from(c2.root.multihash.digest))
  })

  it('every trie node is a block under its keccak CID and the DAG from each root is complete (linksOf)', async () => {
    const { state, blocks } = await openState()
    for (let i = 0; i < 200; i++) await state.put(addr(i), account(i))
    const { root, nodes } = await state.commit(10)
    const seen = new Set<string>()
    const stack: CID[] = [root]
    while (stack.length > 0) {
      const cid = stack.pop()!
      if (seen.has(cid.toString())) continue
      seen.add(cid.toString())
      const bytes = await blocks.get(blockKey(cid))
      expect(bytes, `node ${cid.toString()} stored`).toBeDefined()
      expect(Buffer.from(keccak256(bytes!)).equals(Buffer.from(cid.multihash.digest))).toBe(true)
      stack.push(...linksOf(cid, bytes!)!)
    }
    // only the nodes of the committed root were written: no interior nodes of intermediate roots
    expect(seen.size).toBe(nodes)
    let stored = 0
    for await (const _ of blocks.keys()) stored++
    expect(stored).toBe(nodes)
  })

  it('a state root pinned through onCommit survives GC whole; unpinned roots and other blocks go', async () => {
    const { state, db, blocks } = await openState()
    for (let i = 0; i < 50; i++) await state.put(addr(i), account(i))
    const first = await state.commit(1)
    for (let i = 0; i < 50; i += 2) await state.put(addr(i), account(i, { nonce: 1000 + i }))
    const pinned = await state.commit(2, { onCommit: (batch, root, height) => { holdInBatch(batch, undefined, root, 'state', true, height) } })
    const summary = await collectGarbage(db, blocks, [], { sync: false })
    expect(summary.incompletePins).toBe(0)
    expect(summary.deleted).toBeGreaterThan(0)
    // the pinned root's DAG is complete: a fresh open reads every account from it
    for (let i = 0; i < 50; i++) expect(await state.getFromTrie(addr(i), { height: 2 })).toEqual(i % 2 === 0 ? account(i, { nonce: 1000 + i }) : account(i))
    expect(pinned.root.equals(first.root)).toBe(false)
    // height 1's root was not pinned: its own nodes went
    expect(await blocks.get(blockKey(first.root))).toBeUndefined()
  })

  it('rollback restores the root recorded then, drops the roots above, and reads follow', async () => {
    const o = await openState()
    const keys = Array.from({ length: 40 }, (_, i) => addr(i))
    const roots: CID[] = []
    const models: Array<Map<number, AccountState>> = []
    const model = new Map<number, AccountState>()
    for (let h = 0; h < 6; h++) {
      for (let i = h; i < 40; i += 3) {
        if ((i + h) % 5 === 0) { await o.state.delete(keys[i]); model.delete(i) } else { const a = account(i, { nonce: h * 100 + i }); await o.state.put(keys[i], a); model.set(i, a) }
      }
      roots.push((await o.state.commit(h)).root)
      models.push(new Map(model))
    }
    // uncommitted changes are discarded by a rollback
    await o.state.put(keys[0], account(0, { nonce: 999_999 }))
    const back = await o.state.rollback(2)
    expect(back.equals(roots[2])).toBe(true)
    expect(o.state.root().equals(roots[2])).toBe(true)
    expect(o.state.head()).toEqual({ height: 2, root: roots[2] })
    expect(await o.state.rootAt(3)).toBeUndefined()
    expect(await o.state.rootAt(5)).toBeUndefined()
    expect(o.state.pendingChanges).toBe(0)
    for (let i = 0; i < 40; i++) expect(await o.state.get(keys[i])).toEqual(models[2].get(i))
    await expectFlatMatchesTrie(o.state, keys)
    // the chain goes on from there
    await o.state.put(keys[1], account(1, { nonce: 7 }))
    const again = await o.state.commit(3)
    expect(again.root.equals(roots[3])).toBe(false)
    // and survives a reopen
    const state = await o.reopen()
    expect(state.head()).toEqual({ height: 3, root: again.root })
    expect(await state.get(keys[1])).toEqual(account(1, { nonce: 7 }))
    await expectFlatMatchesTrie(state, keys)
    // rollback to the same root as a kept height says so
    const dropped: unknown[] = []
    await state.rollback(2, { onRollback: (_b, d) => { dropped.push(...d) } })
    expect(dropped).toEqual([{ height: 3, root: again.root, stillRecorded: false }])
    await expect(state.rollback(9)).rejects.toMatchObject({ name: 'UnknownStateHeightError' })
    await expect(state.rollback(-1)).rejects.toMatchObject({ name: 'InvalidStateHeightError' })
  })

  it('the flat layer answers what the trie walk answers, and is rebuilt when stale or missing', async () => {
    const o = await openState()
    const keys = Array.from({ length: 120 }, (_, i) => addr(i))
    for (let i = 0; i < 100; i++) await o.state.put(keys[i], account(i))
    await o.state.commit(1)
    for (let i = 0; i < 100; i += 7) await o.state.delete(keys[i])
    await o.state.commit(2)
    await expectFlatMatchesTrie(o.state, keys)
    await o.reopen()
    await expectFlatMatchesTrie(o.state, keys)
    // a crash between a rollback's batch and its rebuild leaves no meta: open rebuilds
    await o.db.del(FLAT_META_KEY)
    await o.db.put(Uint8Array.of(0x11, ...keys[110]), encodeAccount(account(110)))
    const state = await o.reopen()
    expect(state.flatFresh).toBe(true)
    expect(await state.get(keys[110])).toBeUndefined()
    await expectFlatMatchesTrie(state, keys)
    expect(await state.rebuildFlat()).toBe(100 - Math.ceil(100 / 7))
  })

  it('proofs: a valid proof verifies; another key, another root or a tampered node does not; absence is provable', async () => {
    const { state } = await openState()
    const keys = Array.from({ length: 64 }, (_, i) => addr(i))
    // the empty state proves absence with no nodes
    await state.commit(0)
    const empty = await state.prove(keys[0])
    expect(empty.nodes).toEqual([])
    expect(await verifyProof(empty.root, keys[0], empty.nodes)).toBeUndefined()
    for (let i = 0; i < 50; i++) await state.put(keys[i], account(i))
    const { root } = await state.commit(1)
    const p = await state.prove(keys[5])
    expect(p.root.equals(root)).toBe(true)
    expect(p.value).toEqual(account(5))
    expect(await verifyProof(root, keys[5], p.nodes)).toEqual(account(5))
    expect(await StateStore.verifyProof(root.multihash.digest, keys[5], p.nodes)).toEqual(account(5))
    // another present key is not proven by these nodes
    await expect(verifyProof(root, keys[6], p.nodes)).rejects.toMatchObject({ name: 'InvalidProofError' })
    // another root
    await state.put(keys[5], account(5, { nonce: 1 }))
    const { root: root2 } = await state.commit(2)
    await expect(verifyProof(root2, keys[5], p.nodes)).rejects.toMatchObject({ name: 'InvalidProofError' })
    await expect(verifyProof(EMPTY_ROOT_CID, keys[5], p.nodes)).rejects.toMatchObject({ name: 'InvalidProofError' })
    // a tampered node
    const tampered = p.nodes.map(n => Uint8Array.from(n))
    const last = tampered[tampered.length - 1]
    last[last.length - 1] ^= 1
    await expect(verifyProof(root, keys[5], tampered)).rejects.toMatchObject({ name: 'InvalidProofError' })
    // absent keys
    const absent = await state.prove(keys[60])
    expect(absent.value).toBeUndefined()
    expect(await verifyProof(root2, keys[60], absent.nodes)).toBeUndefined()
    // historical heights prove against their own roots, even with uncommitted changes around
    await state.put(keys[5], account(5, { nonce: 2 }))
    const old = await state.prove(keys[5], { height: 1 })
    expect(old.root.equals(root)).toBe(true)
    expect(await verifyProof(root, keys[5], old.nodes)).toEqual(account(5))
    const head = await state.prove(keys[5])
    expect(head.value).toEqual(account(5, { nonce: 1 }))
    await expect(state.prove(keys[5], { height: 7 })).rejects.toMatchObject({ name: 'UnknownStateHeightError' })
  })

  it('refuses bad input with typed errors', async () => {
    const { state } = await openState()
    await expect(state.get(new Uint8Array(19))).rejects.toMatchObject({ name: 'InvalidStateKeyError' })
    await expect(state.put(new Uint8Array(32), account(1))).rejects.toMatchObject({ name: 'InvalidStateKeyError' })
    await expect(state.put(addr(1), account(1, { balance: -1n }))).rejects.toMatchObject({ name: 'InvalidAccountError' })
    await expect(state.put(addr(1), account(1, { nonce: 1.5 }))).rejects.toMatchObject({ name: 'InvalidAccountError' })
    await expect(state.put(addr(1), account(1, { validator: 'king' as any }))).rejects.toMatchObject({ name: 'InvalidAccountError' })
    await expect(state.put(addr(1), account(1, { score: { count: 1, sum: Number.NaN, min: 0, max: 0 } }))).rejects.toMatchObject({ name: 'InvalidAccountError' })
    await state.commit(5)
    await expect(state.commit(5)).rejects.toMatchObject({ name: 'InvalidStateHeightError' })
    await expect(state.commit(1.5)).rejects.toMatchObject({ name: 'InvalidStateHeightError' })
    await expect(verifyProof(CID.parse('bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'), addr(1), [])).rejects.toMatchObject({ name: 'InvalidProofError' })
    await state.close()
    await expect(state.get(addr(1))).rejects.toMatchObject({ name: 'StateClosedError' })
  })

  it('an interrupted commit leaves nothing: a failing onCommit hook writes no root, no node', async () => {
    const { state, blocks } = await openState()
    await state.put(addr(1), account(1))
    await expect(state.commit(1, { onCommit: () => { throw new Error('pin failed') } })).rejects.toThrow('pin failed')
    expect(await state.rootAt(1)).toBeUndefined()
    let stored = 0
    for await (const _ of blocks.keys()) stored++
    expect(stored).toBe(0)
    // the changes are still pending and a retry commits them
    expect(await state.get(addr(1))).toEqual(account(1))
    const { root } = await state.commit(1)
    expect((await state.rootAt(1))?.equals(root)).toBe(true)
  })

  it('property: the state agrees with a Map model over random put/delete/commit/rollback sequences', async () => {
    const KEYS = Array.from({ length: 12 }, (_, i) => addr(i))
    const op = fc.oneof(
      { weight: 5, arbitrary: fc.record({ t: fc.constant('put' as const), k: fc.nat(11), nonce: fc.nat(1000), balance: fc.bigInt({ min: 0n, max: 2n ** 100n }) }) },
      { weight: 2, arbitrary: fc.record({ t: fc.constant('del' as const), k: fc.nat(11) }) },
      { weight: 2, arbitrary: fc.record({ t: fc.constant('commit' as const) }) },
      { weight: 1, arbitrary: fc.record({ t: fc.constant('rollback' as const), back: fc.nat(4) }) },
      { weight: 1, arbitrary: fc.record({ t: fc.constant('reopen' as const) }) }
    )
    await fc.assert(fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 30 }), async (ops) => {
      const o = await openState()
      try {
        let working = new Map<number, AccountState>()
        const committed = new Map<number, Map<number, AccountState>>()
        let height = -1
        for (const step of ops) {
          if (step.t === 'put') {
            const a = { ...emptyAccount(), nonce: step.nonce, balance: step.balance }
            await o.state.put(KEYS[step.k], a)
            working.set(step.k, a)
          } else if (step.t === 'del') {
            await o.state.delete(KEYS[step.k])
            working.delete(step.k)
          } else if (step.t === 'commit') {
            height++
            await o.state.commit(height)
            committed.set(height, new Map(working))
          } else if (step.t === 'rollback') {
            if (height < 0) continue
            const to = Math.max(0, height - step.back)
            await o.state.rollback(to)
            for (const h of [...committed.keys()]) if (h > to) committed.delete(h)
            height = to
            working = new Map(committed.get(to))
          } else {
            await o.reopen()
            // a reopen loses uncommitted changes
            working = height < 0 ? new Map() : new Map(committed.get(height))
          }
          for (let k = 0; k < KEYS.length; k++) expect(await o.state.get(KEYS[k])).toEqual(working.get(k))
        }
        for (let k = 0; k < KEYS.length; k++) expect(await o.state.getFromTrie(KEYS[k])).toEqual(working.get(k))
        // the root is a function of the content alone: the same Map in a fresh in-memory trie gives it
        const ref = new Trie()
        for (const [k, a] of working) await ref.put(KEYS[k], encodeAccount(a))
        expect(Buffer.from(o.state.root().multihash.digest).toString('hex')).toBe(Buffer.from(ref.root()).toString('hex'))
        for (const [h, m] of committed) {
          const p = await o.state.prove(KEYS[0], { height: h })
          expect(await verifyProof(p.root, KEYS[0], p.nodes)).toEqual(m.get(0))
        }
      } finally {
        await o.close()
        cleanups.splice(cleanups.indexOf(o.close), 1)
      }
    }), { numRuns: 80 })
  })
})
