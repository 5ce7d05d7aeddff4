import { describe, expect, it } from 'vitest'
import { InvalidPinPolicyError, PRESETS, keptBy, leavingWindow, loadPreset, resolvePolicy, type PinPolicy } from '../src/pinning/policy.ts'

const DAY = 86_400_000

describe('pin policy presets', () => {
  it('every preset in pinning/ loads and validates', async () => {
    for (const name of PRESETS) {
      const p = await loadPreset(name)
      expect(p.name).toBe(name)
      expect(p.description.length).toBeGreaterThan(10)
    }
  })

  it('archive keeps every kind at every height', async () => {
    const p = await loadPreset('archive')
    for (const kind of ['header', 'page', 'state', 'snapshot', 'attestation', 'blob'] as const) {
      expect(keptBy(p, { kind, height: 0 }, { head: 1_000_000, now: Date.now() }).length).toBeGreaterThan(0)
    }
  })

  it('validator keeps the recent window, finalized checkpoints, recent state and fresh attestations', async () => {
    const p = await loadPreset('validator')
    const ctx = { head: 50_000, now: 100 * DAY }
    const kept = (item: Parameters<typeof keptBy>[1]): boolean => keptBy(p, item, ctx).length > 0
    expect(kept({ kind: 'page', height: 40_001 })).toBe(true) // head − h = 9,999 < 10,000
    expect(kept({ kind: 'page', height: 40_000 })).toBe(false) // left the window, not finalized
    expect(kept({ kind: 'page', height: 40_000, finalized: true })).toBe(true) // a finalized checkpoint
    expect(kept({ kind: 'header', height: 12_345, finalized: true })).toBe(false) // finalized, not a checkpoint
    expect(kept({ kind: 'state', height: 49_873 })).toBe(true)
    expect(kept({ kind: 'state', height: 49_872 })).toBe(false)
    expect(kept({ kind: 'attestation', storedAt: ctx.now - 29 * DAY })).toBe(true)
    expect(kept({ kind: 'attestation', storedAt: ctx.now - 31 * DAY })).toBe(false)
    expect(kept({ kind: 'blob' })).toBe(false)
    // a block both recent and a finalized checkpoint is held by two rules (reference-counted)
    expect(keptBy(p, { kind: 'header', height: 45_000, finalized: true }, ctx)).toEqual([0, 1])
  })

  it('light keeps every header and only recent pages', async () => {
    const p = await loadPreset('light')
    const ctx = { head: 1_000, now: 0 }
    expect(keptBy(p, { kind: 'header', height: 0 }, ctx)).toEqual([0])
    expect(keptBy(p, { kind: 'page', height: 873 }, ctx)).toEqual([1])
    expect(keptBy(p, { kind: 'page', height: 872 }, ctx)).toEqual([])
  })

  it('names what is wrong in a policy, an unknown preset, and applies overrides', async () => {
    await expect(loadPreset('everything')).rejects.toThrow(InvalidPinPolicyError)
    await expect(resolvePolicy('light', { rules: [{ kinds: ['headers' as any] }] })).rejects.toThrow(/rules\.0\.kinds\.0/)
    await expect(resolvePolicy('light', { rules: [{ kinds: ['page'], window: -1 }] })).rejects.toThrow(/rules\.0\.window/)
    const custom = await resolvePolicy('validator', { rules: [{ kinds: ['header', 'page'], window: 64 }] })
    expect(custom.name).toBe('validator')
    expect(keptBy(custom, { kind: 'page', height: 937 }, { head: 1_000, now: 0 })).toEqual([0])
    expect(keptBy(custom, { kind: 'page', height: 936 }, { head: 1_000, now: 0 })).toEqual([])
  })
})

describe('blocks leaving the window as the head moves', () => {
  it('names, as one range, every height a head move takes out of the window (checked against every height)', () => {
    const policy: PinPolicy = {
      name: 'test',
      description: '',
      rules: [{ kinds: ['page'], window: 7 }, { kinds: ['page'], checkpointEvery: 3, finalizedOnly: true }]
    }
    let seed = 7
    const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n }
    for (let round = 0; round < 300; round++) {
      const from = rnd(60)
      const to = from + rnd(20)
      const ranges = leavingWindow(policy, 'page', from, to)
      const inRange = (h: number): boolean => ranges.some(r => h >= r.from && h <= r.to)
      for (let h = 0; h <= from; h++) {
        for (const finalized of [false, true]) {
          const before = keptBy(policy, { kind: 'page', height: h, finalized }, { head: from, now: 0 }).length > 0
          const after = keptBy(policy, { kind: 'page', height: h, finalized }, { head: to, now: 0 }).length > 0
          // everything that stops being kept is in a range; checkpoints in a range stay kept
          if (before && !after) expect(inRange(h)).toBe(true)
          if (inRange(h)) expect(h % 3 === 0 && finalized ? after : !after).toBe(true)
        }
      }
    }
  })

  it('an unconditional rule for a kind means nothing of it ever leaves', async () => {
    expect(leavingWindow(await loadPreset('archive'), 'page', 0, 1_000_000)).toEqual([])
    expect(leavingWindow(await loadPreset('light'), 'header', 0, 1_000_000)).toEqual([])
    expect(leavingWindow(await loadPreset('light'), 'page', 1_000, 1_010)).toEqual([{ from: 873, to: 882 }])
  })
})
