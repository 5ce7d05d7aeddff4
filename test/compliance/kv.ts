import { describe, expect, it } from 'vitest'
import type { ChainStore } from '../../src/index.ts'
import { openTestStore } from '../helpers/store.ts'

/** How a kv implementation under test is reached: through a store opened with `config`. */
export interface KvFixture {
  /** Extra store config (a sealed run names the namespaces in `attestations.encryptKinds`). */
  config: Parameters<typeof openTestStore>[0]
}

/** Namespaces the suite uses (a sealed run must seal each). */
export const KV_SUITE_NAMESPACES = ['consensus.rounds', 'peers', 'net', 'peerinfo', 'balances', 'state']

/**
 * The behaviour every kv store promises (plain and sealed alike), in the
 * shape of js-stores' shared suites: isolation between namespaces, atomic
 * batches, ordered ranges, consistent snapshots, persistence, typed errors.
 */
export function kvStoreTests (name: string, fixture: () => KvFixture): void {
  describe(`kv compliance: ${name}`, () => {
    const open = async (): Promise<Awaited<ReturnType<typeof openTestStore>>> => await openTestStore(fixture().config)

    it('get/put/del within a namespace, isolated from other namespaces', async () => {
      const ctx = await open()
      try {
        const rounds = ctx.store.kv<{ round: number, leader: string }>('consensus.rounds')
        const peers = ctx.store.kv<string>('peers')
        await rounds.put('r1', { round: 1, leader: 'a' })
        await peers.put('r1', 'not a round')
        expect(await rounds.get('r1')).toEqual({ round: 1, leader: 'a' })
        expect(await peers.get('r1')).toBe('not a round')
        expect(await rounds.getMany(['r1', 'r2'])).toEqual([{ round: 1, leader: 'a' }, undefined])
        await rounds.del('r1')
        expect(await rounds.get('r1')).toBeUndefined()
        expect(await peers.get('r1')).toBe('not a round')
      } finally { await ctx.cleanup() }
    })

    it('batch applies all operations atomically, and a bad op applies none', async () => {
      const ctx = await open()
      try {
        const kv = ctx.store.kv<number>('net')
        await kv.put('gone', 1)
        await kv.batch([{ type: 'put', key: 'a', value: 1 }, { type: 'put', key: 'b', value: 2 }, { type: 'del', key: 'gone' }])
        expect(await kv.getMany(['a', 'b', 'gone'])).toEqual([1, 2, undefined])
        await expect(kv.batch([{ type: 'put', key: 'c', value: 3 }, { type: 'put', key: '', value: 4 }])).rejects.toHaveProperty('name', 'InvalidQueryError')
        expect(await kv.get('c')).toBeUndefined()
      } finally { await ctx.cleanup() }
    })

    it('iterates ranges in order with limits, prefixes and reverse', async () => {
      const ctx = await open()
      try {
        const kv = ctx.store.kv<number>('peerinfo')
        await kv.batch(Array.from({ length: 30 }, (_, i) => ({ type: 'put' as const, key: `peer/${String(i).padStart(3, '0')}`, value: i })))
        await kv.put('other/x', -1)
        const entries = async (range: Parameters<typeof kv.iterate>[0]): Promise<Array<[string, number]>> => {
          const out: Array<[string, number]> = []
          for await (const e of kv.iterate(range)) out.push(e)
          return out
        }
        expect(await entries({ prefix: 'peer/', limit: 3 })).toEqual([['peer/000', 0], ['peer/001', 1], ['peer/002', 2]])
        expect((await entries({ prefix: 'peer/', limit: 2, reverse: true })).map(e => e[0])).toEqual(['peer/029', 'peer/028'])
        expect((await entries({ gt: 'peer/010', lte: 'peer/013' })).map(e => e[0])).toEqual(['peer/011', 'peer/012', 'peer/013'])
        expect((await entries({})).length).toBe(31)
        await expect(entries({ limit: 0 })).rejects.toHaveProperty('name', 'InvalidQueryError')
      } finally { await ctx.cleanup() }
    })

    it('a snapshot is a consistent view: writes after it are invisible to it', async () => {
      const ctx = await open()
      try {
        const kv = ctx.store.kv<number>('balances')
        await kv.batch([{ type: 'put', key: 'alice', value: 10 }, { type: 'put', key: 'bob', value: 5 }])
        const view = kv.snapshot()
        try {
          // a transfer lands after the view was taken
          await kv.batch([{ type: 'put', key: 'alice', value: 7 }, { type: 'put', key: 'bob', value: 8 }, { type: 'put', key: 'carol', value: 1 }])
          expect(await view.getMany(['alice', 'bob'])).toEqual([10, 5])
          expect(await view.get('carol')).toBeUndefined()
          const seen: Array<[string, number]> = []
          for await (const e of view.iterate()) seen.push(e)
          expect(seen).toEqual([['alice', 10], ['bob', 5]])
          expect(await kv.getMany(['alice', 'bob', 'carol'])).toEqual([7, 8, 1])
        } finally {
          await view.close()
        }
      } finally { await ctx.cleanup() }
    })

    it('survives restart, rejects bad namespaces, and refuses use after stop', async () => {
      const ctx = await open()
      try {
        await ctx.store.kv<string>('state').put('k', 'v')
        await ctx.store.stop()
        const again: ChainStore = await ctx.reopen()
        expect(await again.kv<string>('state').get('k')).toBe('v')
        expect(() => again.kv('')).toThrow(expect.objectContaining({ name: 'InvalidNamespaceError' }))
        expect(() => again.kv('has!bang')).toThrow(expect.objectContaining({ name: 'InvalidNamespaceError' }))
        const handle = again.kv<string>('state')
        await again.stop()
        await expect(handle.get('k')).rejects.toHaveProperty('name', 'StoreClosedError')
        await expect(handle.put('k', 'x')).rejects.toHaveProperty('name', 'StoreClosedError')
        expect(() => again.kv('state')).toThrow(expect.objectContaining({ name: 'StoreClosedError' }))
      } finally { await ctx.cleanup() }
    })
  })
}
