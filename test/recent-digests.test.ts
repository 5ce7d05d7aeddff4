import { describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import { RecentDigests, digestOfString } from '../src/replication/recent-digests.ts'

/** The same CLOCK over a plain list, found by linear search: what the table must agree with. */
class Model {
  readonly ring: string[] = []
  readonly ref: number[] = []
  hand = 0
  readonly capacity: number
  constructor (capacity: number) { this.capacity = capacity }
  has (k: string): boolean {
    const i = this.ring.indexOf(k)
    if (i >= 0) this.ref[i] = 1
    return i >= 0
  }

  add (k: string): void {
    if (this.has(k)) return
    if (this.ring.length < this.capacity) { this.ring.push(k); this.ref.push(0); return }
    while (this.ref[this.hand] === 1) { this.ref[this.hand] = 0; this.hand = (this.hand + 1) % this.capacity }
    this.ring[this.hand] = k
    this.ref[this.hand] = 0
    this.hand = (this.hand + 1) % this.capacity
  }
}

/**
 * Digests drawn from a small pool whose first bytes collide on purpose
 * (few distinct homes), so lookups walk long probe chains and evictions
 * shift cells back across them and across the end of the table.
 */
function pool (n: number, homes: number): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => {
    const d = randomBytes(32)
    d.writeUInt32LE((i % homes) * 0x9e3779b1 >>> 0, 0)
    return new Uint8Array(d)
  })
}

describe('RecentDigests', () => {
  it('remembers what was added, up to its capacity, in memory sized at construction', () => {
    const set = new RecentDigests(4)
    const ds = pool(6, 6)
    for (const d of ds.slice(0, 4)) set.add(d)
    expect(set.size).toBe(4)
    for (const d of ds.slice(0, 4)) expect(set.has(d)).toBe(true)
    expect(set.has(ds[4])).toBe(false)
    // a digest at an offset in a larger buffer is the same key
    const wide = new Uint8Array(40)
    wide.set(ds[2], 5)
    expect(set.slotOf(wide, 5)).toBe(set.slotOf(ds[2]))
  })

  it('gives a digest asked for again a second chance: the hand takes the first one not used since', () => {
    const set = new RecentDigests(3)
    const [a, b, c, d, e] = pool(5, 5)
    set.add(a); set.add(b); set.add(c)
    expect(set.has(a)).toBe(true) // a is used again
    set.add(d) // the hand passes a (clearing its chance) and replaces b
    expect([set.has(a), set.has(b), set.has(c), set.has(d)]).toEqual([true, false, true, true])
    set.add(e)
    expect(set.size).toBe(3)
    expect(set.has(e)).toBe(true)
  })

  for (const [capacity, homes] of [[8, 3], [64, 5], [100, 200], [1, 1]] as const) {
    it(`agrees with a linear-search model over 20,000 random adds and lookups (capacity ${capacity}, ${homes} home cells)`, () => {
      const set = new RecentDigests(capacity)
      const model = new Model(capacity)
      const ds = pool(capacity * 3 + 2, homes)
      const key = (d: Uint8Array): string => Buffer.from(d).toString('hex')
      for (let step = 0; step < 20_000; step++) {
        const d = ds[Math.floor(Math.random() * ds.length)]
        if (Math.random() < 0.5) {
          set.add(d); model.add(key(d))
        } else {
          expect(set.has(d)).toBe(model.has(key(d)))
        }
        expect(set.size).toBe(model.ring.length)
      }
      for (const d of ds) expect(set.has(d)).toBe(model.has(key(d)))
    })
  }

  it('hashes string keys to full digests: different keys never share an entry', () => {
    const set = new RecentDigests(16)
    const out = new Uint8Array(32)
    set.add(digestOfString('identity|a', out))
    expect(set.has(digestOfString('identity|a', out))).toBe(true)
    expect(set.has(digestOfString('identity|b', out))).toBe(false)
  })

  it('refuses a capacity that is not a positive integer', () => {
    expect(() => new RecentDigests(0)).toThrow(/capacity must be a positive integer, got 0/)
    expect(() => new RecentDigests(2.5)).toThrow(RangeError)
  })
})
