import { describe, expect, it } from 'vitest'
import { ClockCache } from '../src/storage/clock-cache.ts'

describe('ClockCache (the memory tier’s eviction)', () => {
  it('gives a second chance: an entry read since the hand last passed stays, an unread one goes', () => {
    const c = new ClockCache<string, string>(3)
    c.set('a', 'A', 1); c.set('b', 'B', 1); c.set('c', 'C', 1)
    expect(c.get('a')).toBe('A')
    c.set('d', 'D', 1)
    // the hand spared a (clearing its bit) and evicted b, the first entry nobody read
    expect([...['a', 'b', 'c', 'd']].filter(k => c.has(k))).toEqual(['a', 'c', 'd'])
    c.set('e', 'E', 1)
    // the hand goes on from where it stopped: c, never read, is next
    expect([...['a', 'b', 'c', 'd', 'e']].filter(k => c.has(k))).toEqual(['a', 'd', 'e'])
    // a's bit was cleared on the first pass: without another read it goes on the next round
    c.set('f', 'F', 1); c.set('g', 'G', 1)
    expect(c.has('a')).toBe(false)
    expect(c.calculatedSize).toBe(3)
    expect(c.size).toBe(3)
  })

  it('evicts as many entries as a large one needs, replaces a key in place, and refuses an entry over the bound', () => {
    const c = new ClockCache<number, string>(10)
    for (let i = 0; i < 5; i++) c.set(i, `v${i}`, 2)
    expect(c.calculatedSize).toBe(10)
    c.set(99, 'big', 7)
    expect(c.calculatedSize).toBeLessThanOrEqual(10)
    expect(c.get(99)).toBe('big')
    expect(c.size).toBe(2)
    // a new value and size for a held key: one entry, the size counted once
    c.set(99, 'smaller', 3)
    expect(c.get(99)).toBe('smaller')
    expect(c.calculatedSize).toBe(5)
    // larger than the whole bound: not kept, and the value it would replace is gone too (no stale read)
    expect(c.set(99, 'huge', 11)).toBe(false)
    expect(c.get(99)).toBeUndefined()
    expect(c.calculatedSize).toBe(2)
    expect(() => c.set(1, 'x', 0)).toThrow(RangeError)
    expect(() => new ClockCache(0)).toThrow(RangeError)
  })

  it('matches a model of what it holds through random sets, reads, deletes and clears, never over its bound', () => {
    let seed = 0x2545f491
    const rnd = (n: number): number => { seed ^= seed << 13; seed >>>= 0; seed ^= seed >>> 17; seed ^= seed << 5; seed >>>= 0; return seed % n }
    const max = 500
    const c = new ClockCache<number, number>(max)
    const model = new Map<number, { value: number, size: number }>()
    let hits = 0
    for (let step = 0; step < 50_000; step++) {
      const key = rnd(400)
      const op = rnd(100)
      if (op < 45) {
        const size = 1 + rnd(40)
        c.set(key, step, size)
        model.set(key, { value: step, size })
      } else if (op < 97) {
        const got = c.get(key)
        // whatever the cache still holds is the last value set for that key
        if (got !== undefined) { hits++; expect(got).toBe(model.get(key)?.value) }
      } else if (op < 99) {
        c.delete(key)
        model.delete(key)
        expect(c.get(key)).toBeUndefined()
      } else if (step % 97 === 0) {
        c.clear()
        model.clear()
      }
      // evictions drop entries from the cache, never from the model: what is held must agree with the model
      if (step % 1000 === 0) {
        let sum = 0
        let held = 0
        for (const [k, m] of model) if (c.has(k)) { held++; sum += m.size; expect(c.get(k)).toBe(m.value) }
        expect(held).toBe(c.size)
        expect(c.calculatedSize).toBe(sum)
      }
      expect(c.calculatedSize).toBeLessThanOrEqual(max)
    }
    expect(hits).toBeGreaterThan(1000)
  })
})
