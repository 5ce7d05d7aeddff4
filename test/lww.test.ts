import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { LwwMap, type KvLog, type KvLogEntry } from '../src/replication/lww.ts'

/**
 * The validator-state fold (src/replication/lww.ts): every order of the same
 * entries gives the same map, a join reported by its head alone folds the
 * whole branch, and a later write of one writer beats its earlier ones.
 */

const WRITERS = ['02aa', '03bb', '02cc']
const KEYS = ['v-0', 'v-1', 'shared']

/** A random DAG of key-value entries: each entry's next are earlier entries (a log's history). */
const arbLog = fc.array(fc.record({
  writer: fc.integer({ min: 0, max: WRITERS.length - 1 }),
  key: fc.integer({ min: 0, max: KEYS.length - 1 }),
  del: fc.boolean(),
  value: fc.integer({ min: 0, max: 1000 }),
  parents: fc.array(fc.nat(), { maxLength: 2 })
}), { minLength: 1, maxLength: 40 }).map(specs => {
  const entries: KvLogEntry[] = []
  for (const [i, s] of specs.entries()) {
    const next = [...new Set(s.parents.filter(() => i > 0).map(p => entries[p % i].hash))]
    const time = 1 + Math.max(0, ...next.map(h => entries.find(e => e.hash === h)!.clock.time))
    entries.push({
      hash: `h${String(i).padStart(3, '0')}`,
      next,
      clock: { id: WRITERS[s.writer], time },
      payload: s.del ? { op: 'DEL', key: KEYS[s.key] } : { op: 'PUT', key: KEYS[s.key], value: { v: s.value } }
    })
  }
  return entries
})

function logOf (entries: KvLogEntry[]): KvLog {
  const byHash = new Map(entries.map(e => [e.hash, e]))
  return {
    get: async h => byHash.get(h),
    iterator: async function * () { yield * entries }
  }
}

/** The expected winner per key, computed independently: sort all entries by (time, writer, hash) and replay. */
function model (entries: KvLogEntry[]): Array<[string, unknown]> {
  const sorted = [...entries].sort((a, b) => a.clock.time - b.clock.time || (a.clock.id < b.clock.id ? -1 : a.clock.id > b.clock.id ? 1 : 0) || (a.hash < b.hash ? -1 : 1))
  const m = new Map<string, unknown>()
  for (const e of sorted) {
    if (e.payload.op === 'PUT') m.set(e.payload.key, e.payload.value)
    else m.delete(e.payload.key)
  }
  return [...m].sort((a, b) => a[0] < b[0] ? -1 : 1)
}

describe('last-writer-wins fold of a key-value log', () => {
  it('gives the same map for every arrival order, equal to replaying by (time, writer, hash)', () => {
    fc.assert(fc.property(arbLog, fc.func(fc.integer()), (entries, order) => {
      const shuffled = entries.map((e, i) => ({ e, k: order(i) })).sort((a, b) => a.k - b.k).map(x => x.e)
      const a = new LwwMap<unknown>()
      const b = new LwwMap<unknown>()
      for (const e of entries) a.apply(e)
      for (const e of shuffled) b.apply(e)
      // applying again changes nothing (idempotent)
      for (const e of shuffled) expect(b.apply(e)).toBe(false)
      expect(a.list()).toEqual(model(entries))
      expect(b.list()).toEqual(a.list())
    }), { numRuns: 300 })
  })

  it('folds a joined branch from its head alone, ancestors included', async () => {
    await fc.assert(fc.asyncProperty(arbLog, async entries => {
      const log = logOf(entries)
      const joined = new LwwMap<unknown>()
      // a head of the DAG: the last entry, plus every entry nobody points to
      const pointed = new Set(entries.flatMap(e => e.next))
      for (const head of entries.filter(e => !pointed.has(e.hash))) await joined.applyWithAncestors(log, head)
      expect(joined.entries).toBe(entries.length)
      expect(joined.list()).toEqual(model(entries))
    }), { numRuns: 200 })
  })

  it('a writer\'s later put beats its earlier one, a later DEL removes the key, and a concurrent higher clock wins', () => {
    const m = new LwwMap<{ stake: number }>()
    m.apply({ hash: 'a', next: [], clock: { id: '02aa', time: 1 }, payload: { op: 'PUT', key: 'v', value: { stake: 2000 } } })
    m.apply({ hash: 'b', next: ['a'], clock: { id: '02aa', time: 2 }, payload: { op: 'PUT', key: 'v', value: { stake: 1000 } } })
    expect(m.get('v')).toEqual({ stake: 1000 })
    // a concurrent entry of another writer at the same time: the greater writer id wins
    m.apply({ hash: 'c', next: ['a'], clock: { id: '03bb', time: 2 }, payload: { op: 'PUT', key: 'v', value: { stake: 7 } } })
    expect(m.get('v')).toEqual({ stake: 7 })
    m.apply({ hash: 'd', next: ['b', 'c'], clock: { id: '02aa', time: 3 }, payload: { op: 'DEL', key: 'v' } })
    expect(m.get('v')).toBeUndefined()
    expect(m.list()).toEqual([])
  })
})
