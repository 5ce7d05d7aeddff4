import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import {
  AttestationStore, BUCKET_MS, DAY_MS, HISTOGRAM_BINS, Keystore, MasterKey, RAW_BIOMETRIC_FIELDS, commitSample, verifyCommitment,
  type AttestationBatch, type AttestationInput, type ErasureRecord, type Resolution
} from '../src/attestations/index.ts'
import { openLevel, type BlocksDb, type RootDb } from '../src/storage/level.ts'
import { quietLogger, tempDir } from './helpers/store.ts'

const T0 = Date.UTC(2026, 0, 5)
const RETENTION = { scoresMs: 90 * DAY_MS, commitmentsMs: 30 * DAY_MS, payloadMs: 30 * DAY_MS }

interface Ctx {
  db: RootDb
  blocks: BlocksDb
  keystore: Keystore
  store: AttestationStore
  clock: { now: number }
  close: () => Promise<void>
}

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c() })

async function open (master = MasterKey.generateHex()): Promise<Ctx> {
  const { dir, cleanup } = await tempDir('chainstore-attest-')
  const { db, blocks } = await openLevel(join(dir, 'data'), { writeBufferSize: 4 * 1024 * 1024, cacheSize: 8 * 1024 * 1024 })
  const clock = { now: T0 + 5 * DAY_MS }
  const keystore = await Keystore.open({ db, masterKey: MasterKey.parse(master), logger: quietLogger, sync: false })
  const store = await AttestationStore.open({ db, blocks, keystore, logger: quietLogger, sync: false, retention: RETENTION, now: () => clock.now, maxClockSkewMs: 1e15 })
  let closed = false
  const close = async (): Promise<void> => {
    if (closed) return
    closed = true
    await store.close()
    await db.close()
    await cleanup()
  }
  cleanups.push(close)
  return { db, blocks, keystore, store, clock, close }
}

const SECRET = new Uint8Array(32).fill(7)
function attestation (validator: string, height: number, timestamp: number, score: number, extra: Partial<AttestationInput> = {}): AttestationInput {
  return { validator, height, timestamp, score, commitment: commitSample(Uint8Array.of(height & 0xff, 1, 2, 3), SECRET), ...extra }
}

describe('attestation model', () => {
  it('refuses every raw biometric field, naming it, at the top level, in scores and in a structured payload', async () => {
    const { store } = await open()
    for (const field of RAW_BIOMETRIC_FIELDS) {
      const bad = { ...attestation('val-1', 1, T0, 0.5), [field]: 72 }
      const err = await store.ingest([bad as any]).catch(e => e)
      expect(err.name).toBe('RawBiometricFieldError')
      expect(err.field).toBe(`attestations[0].${field}`)
    }
    // spelling variants are caught too
    await expect(store.ingest([{ ...attestation('val-1', 1, T0, 0.5), heart_rate: 70 } as any])).rejects.toHaveProperty('name', 'RawBiometricFieldError')
    await expect(store.ingest([attestation('val-1', 1, T0, 0.5, { scores: { eeg: 0.3 } })])).rejects.toHaveProperty('field', 'attestations[0].scores.eeg')
    await expect(store.ingest([attestation('val-1', 1, T0, 0.5, { payload: { device: { model: 'x', readings: [{ ppg: [1, 2] }] } } })])).rejects.toMatchObject({ name: 'RawBiometricFieldError', field: 'attestations[0].payload.device.readings[0].ppg' })
    // secrets stay with the validator, unknown fields are refused
    await expect(store.ingest([{ ...attestation('val-1', 1, T0, 0.5), salt: new Uint8Array(16) } as any])).rejects.toHaveProperty('name', 'CommitmentSecretFieldError')
    await expect(store.ingest([{ ...attestation('val-1', 1, T0, 0.5), mood: 'calm' } as any])).rejects.toMatchObject({ name: 'UnknownFieldError', field: 'attestations[0].mood' })
    const c = commitSample(new Uint8Array(4), SECRET)
    await expect(store.ingest([attestation('val-1', 1, T0, 0.5, { commitment: { ...c, sample: new Uint8Array(4) } as any })])).rejects.toHaveProperty('field', 'attestations[0].commitment.sample')
    // nothing was written
    expect(await store.range('val-1')).toEqual([])
  })

  it('validates each field with a typed error naming it', async () => {
    const { store } = await open()
    const cases: Array<[Partial<AttestationInput> | Record<string, unknown>, string]> = [
      [{ validator: 'bad id!' }, 'validator'],
      [{ height: -1 }, 'height'],
      [{ height: 1.5 }, 'height'],
      [{ timestamp: 'now' as any }, 'timestamp'],
      [{ score: 1.01 }, 'score'],
      [{ score: Number.NaN }, 'score'],
      [{ scores: { Calm: 0.2 } }, 'scores.Calm'],
      [{ scores: { calm: 2 } }, 'scores.calm'],
      [{ commitment: { scheme: 'md5', digest: new Uint8Array(32) } as any }, 'commitment.scheme'],
      [{ commitment: { scheme: 'salted-sha256', digest: new Uint8Array(31) } }, 'commitment.digest'],
      [{ commitment: { scheme: 'hmac-sha256', digest: new Uint8Array(32) } }, 'commitment.nonce'],
      [{ commitment: undefined }, 'commitment'],
      [{ payload: 'text' as any }, 'payload'],
      [{ payload: new Uint8Array(64 * 1024 + 1) }, 'payload']
    ]
    for (const [patch, field] of cases) {
      const a = { ...attestation('val-1', 1, T0, 0.5), ...patch }
      if ('commitment' in patch && patch.commitment === undefined) delete (a as any).commitment
      const err = await store.ingest([a as AttestationInput]).catch(e => e)
      expect(err.name, field).toBe('InvalidAttestationError')
      expect(err.field).toBe(`attestations[0].${field}`)
    }
  })

  it('a commitment verifies the right sample and no other, in both schemes; the digest never repeats for HMAC', () => {
    const sample = new Uint8Array(randomBytes(64))
    const secret = new Uint8Array(randomBytes(32))
    for (const scheme of ['hmac-sha256', 'salted-sha256'] as const) {
      const c = commitSample(sample, secret, scheme)
      expect(verifyCommitment(sample, secret, c)).toBe(true)
      const other = Uint8Array.from(sample)
      other[10] ^= 1
      expect(verifyCommitment(other, secret, c)).toBe(false)
      expect(verifyCommitment(sample, new Uint8Array(randomBytes(32)), c)).toBe(false)
    }
    const a = commitSample(sample, secret)
    const b = commitSample(sample, secret)
    expect(Buffer.from(a.digest).equals(Buffer.from(b.digest))).toBe(false)
    expect(() => commitSample(sample, new Uint8Array(8))).toThrow(expect.objectContaining({ name: 'InvalidAttestationError' }))
  })
})

/** Exact aggregates of a list of scores. */
function exact (scores: number[]): { count: number, mean: number, min: number, max: number, p50: number, p90: number } {
  const s = [...scores].sort((a, b) => a - b)
  const at = (p: number): number => s[Math.max(1, Math.ceil(p * s.length)) - 1]
  return { count: s.length, mean: s.reduce((x, y) => x + y, 0) / s.length, min: s[0], max: s[s.length - 1], p50: at(0.5), p90: at(0.9) }
}

const HALF_BIN = 0.5 / HISTOGRAM_BINS + 1e-9

function expectBuckets (got: Array<{ bucket: number, count: number, mean: number, min: number, max: number, p50: number, p90: number }>, model: Map<number, number[]>): void {
  const want = [...model.entries()].filter(([, v]) => v.length > 0).sort((a, b) => a[0] - b[0])
  expect(got.map(b => b.bucket)).toEqual(want.map(([b]) => b))
  got.forEach((b, i) => {
    const e = exact(want[i][1])
    expect(b.count).toBe(e.count)
    expect(b.mean).toBeCloseTo(e.mean, 9)
    expect(b.min).toBe(e.min)
    expect(b.max).toBe(e.max)
    expect(Math.abs(b.p50 - e.p50)).toBeLessThanOrEqual(HALF_BIN)
    expect(Math.abs(b.p90 - e.p90)).toBeLessThanOrEqual(HALF_BIN)
  })
}

interface Point { validator: string, height: number, timestamp: number, score: number }

function bucketModel (points: Point[], resolution: Resolution, validator?: string): Map<number, number[]> {
  const m = new Map<number, number[]>()
  for (const p of points) {
    if (validator != null && p.validator !== validator) continue
    const b = resolution === 'round' ? p.height : Math.floor(p.timestamp / BUCKET_MS[resolution]) * BUCKET_MS[resolution]
    m.set(b, [...(m.get(b) ?? []), p.score])
  }
  return m
}

const pointsArb = fc.array(fc.record({
  v: fc.integer({ min: 0, max: 3 }),
  height: fc.integer({ min: 0, max: 400 }),
  offset: fc.integer({ min: 0, max: 3 * DAY_MS }),
  score: fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom(0, 1, 0.5, 0.005))
}), { minLength: 1, maxLength: 300 }).map(raw => {
  // one attestation per validator and height
  const seen = new Set<string>()
  const out: Point[] = []
  for (const r of raw) {
    const validator = `val-${r.v}`
    if (seen.has(`${validator}/${r.height}`)) continue
    seen.add(`${validator}/${r.height}`)
    out.push({ validator, height: r.height, timestamp: T0 + r.offset, score: r.score })
  }
  return out
})

describe('time series, rollups and trending', () => {
  it('range queries by time and by height, and per-bucket aggregates, match a model (random data)', async () => {
    await fc.assert(fc.asyncProperty(pointsArb, fc.integer({ min: 1, max: 5 }), async (points, batches) => {
      const ctx = await open()
      try {
        // ingest in a few batches, one of them twice (duplicates are skipped)
        const size = Math.ceil(points.length / batches)
        for (let i = 0; i < points.length; i += size) {
          const chunk = points.slice(i, i + size).map(p => attestation(p.validator, p.height, p.timestamp, p.score))
          const r = await ctx.store.ingest(chunk)
          expect(r.stored).toBe(chunk.length)
        }
        const again = await ctx.store.ingest(points.slice(0, 3).map(p => ({ ...attestation(p.validator, p.height, p.timestamp, p.score) })))
        expect(again).toMatchObject({ stored: 0, duplicates: Math.min(3, points.length) })

        const v = points[0].validator
        const mine = points.filter(p => p.validator === v)
        const byTime = [...mine].sort((a, b) => a.timestamp - b.timestamp || a.height - b.height)
        const from = T0 + DAY_MS / 2
        const to = T0 + 2 * DAY_MS
        const gotTime = await ctx.store.range(v, { fromTime: from, toTime: to, limit: 10_000 })
        expect(gotTime.map(r => [r.height, r.timestamp, r.score])).toEqual(byTime.filter(p => p.timestamp >= from && p.timestamp < to).map(p => [p.height, p.timestamp, p.score]))
        const gotHeight = await ctx.store.range(v, { fromHeight: 100, toHeight: 300, reverse: true, limit: 10_000 })
        expect(gotHeight.map(r => r.height)).toEqual(mine.filter(p => p.height >= 100 && p.height < 300).map(p => p.height).sort((a, b) => b - a))
        expect(await ctx.store.range(v, { limit: 2 })).toHaveLength(Math.min(2, mine.length))

        for (const resolution of ['minute', 'hour', 'day'] as const) {
          expectBuckets(await ctx.store.aggregate({ validator: v, resolution, from: T0, to: T0 + 4 * DAY_MS }), bucketModel(points, resolution, v))
          expectBuckets(await ctx.store.aggregate({ resolution, from: T0, to: T0 + 4 * DAY_MS }), bucketModel(points, resolution))
        }
        expectBuckets(await ctx.store.aggregate({ resolution: 'round', from: 0, to: 1000 }), bucketModel(points, 'round'))
        expectBuckets(await ctx.store.aggregate({ validator: v, resolution: 'round', from: 0, to: 1000 }), bucketModel(points, 'round', v))
        // a window of buckets
        const hourModel = new Map([...bucketModel(points, 'hour')].filter(([b]) => b >= T0 + 3_600_000 * 5 && b < T0 + 3_600_000 * 30))
        expectBuckets(await ctx.store.aggregate({ resolution: 'hour', from: T0 + 3_600_000 * 5 + 17, to: T0 + 3_600_000 * 30 }), hourModel)
        const all = await ctx.store.summary({ resolution: 'day', from: T0, to: T0 + 4 * DAY_MS })
        expectBuckets(all == null ? [] : [{ ...all, bucket: 0 }], new Map([[0, points.map(p => p.score)]]))
      } finally {
        await ctx.close()
      }
    }), { numRuns: 25 })
  })

  it('trending ranks validators by the move of their mean between two windows', async () => {
    const { store } = await open()
    const deltas: Record<string, number> = { 'val-a': 0.4, 'val-b': -0.6, 'val-c': 0.05, 'val-d': 0 }
    const batch: AttestationInput[] = []
    let h = 0
    for (const [v, d] of Object.entries(deltas)) {
      for (let i = 0; i < 24; i++) {
        const base = d < 0 ? 0.8 : 0.3
        batch.push(attestation(v, h++, T0 + i * 3_600_000, base + (i % 3) * 0.01))
        batch.push(attestation(v, h++, T0 + DAY_MS + i * 3_600_000, base + d + (i % 3) * 0.01))
      }
    }
    batch.push(attestation('val-only-after', h++, T0 + DAY_MS, 0.9))
    await store.ingest(batch)
    const trend = await store.trending({ before: { from: T0, to: T0 + DAY_MS }, after: { from: T0 + DAY_MS, to: T0 + 2 * DAY_MS }, limit: 3 })
    expect(trend.map(t => t.validator)).toEqual(['val-b', 'val-a', 'val-c'])
    expect(trend[0].delta).toBeCloseTo(-0.6, 9)
    expect(trend[0].before.count).toBe(24)
    await expect(store.trending({ before: { from: T0 + 1, to: T0 + DAY_MS }, after: { from: T0 + DAY_MS, to: T0 + 2 * DAY_MS } })).rejects.toHaveProperty('name', 'InvalidQueryError')
  })

  it('refuses queries bound by time and height at once, and a bad limit', async () => {
    const { store } = await open()
    await expect(store.range('val-1', { fromTime: 1, fromHeight: 1 })).rejects.toHaveProperty('name', 'InvalidQueryError')
    await expect(store.range('val-1', { limit: 0 })).rejects.toHaveProperty('name', 'InvalidQueryError')
    await expect(store.aggregate({ resolution: 'week' as any, from: 0, to: 1 })).rejects.toHaveProperty('name', 'InvalidQueryError')
  })

  it('a different attestation for a stored validator and height is a conflict; nothing of the batch is written', async () => {
    const { store } = await open()
    await store.ingest([attestation('val-1', 5, T0, 0.5)])
    await expect(store.ingest([attestation('val-1', 6, T0, 0.5), attestation('val-1', 5, T0, 0.6)])).rejects.toHaveProperty('name', 'AttestationConflictError')
    expect((await store.range('val-1')).map(r => r.height)).toEqual([5])
  })
})

describe('payloads, replication seam and export', () => {
  it('seals the payload under the validator key, stores it as a pinned raw block, and opens it back', async () => {
    const { store, db } = await open()
    const payload = { device: { model: 'band-2', firmware: '1.4' }, mood: 'steady', levels: [1, 2, 3] }
    await store.ingest([attestation('val-1', 1, T0, 0.5, { payload }), attestation('val-1', 2, T0 + 1000, 0.6, { payload: Uint8Array.of(9, 8, 7) })])
    const [r1, r2] = await store.range('val-1')
    expect(r1.payload?.code).toBe(0x55)
    expect(await store.getPayload('val-1', 1)).toEqual(payload)
    expect(await store.getPayload('val-1', 2)).toEqual(Uint8Array.of(9, 8, 7))
    const { readPin } = await import('../src/pinning/records.ts')
    expect(readPin(db, r2.payload!)?.reasons).toEqual(['attestation'])
    await store.ingest([attestation('val-1', 3, T0 + 2000, 0.6)])
    await expect(store.getPayload('val-1', 3)).rejects.toHaveProperty('name', 'PayloadNotFoundError')
    await expect(store.getPayload('val-1', 4)).rejects.toHaveProperty('name', 'AttestationNotFoundError')
  })

  it('publishes local batches; a peer applies them, refuses foreign ones, and cannot open the payload', async () => {
    const origin = await open()
    const peer = await open()
    const published: AttestationBatch[] = []
    origin.store.onIngest(b => { published.push(b) })
    await origin.store.ingest([attestation('val-1', 1, T0, 0.5, { payload: Uint8Array.of(1, 2) }), attestation('val-1', 2, T0 + 1, 0.7)])
    expect(published).toHaveLength(1)
    expect(published[0].attestations[0].sealedPayload).toBeInstanceOf(Uint8Array)
    await expect(peer.store.applyRemote(published[0], 'val-2')).rejects.toHaveProperty('name', 'ForeignAttestationError')
    expect(await peer.store.range('val-1')).toEqual([])
    expect(await peer.store.applyRemote(published[0], 'val-1')).toMatchObject({ stored: 2 })
    expect(await peer.store.applyRemote(published[0], 'val-1')).toMatchObject({ stored: 0, duplicates: 2 })
    expect((await peer.store.range('val-1')).map(r => r.payload?.toString())).toEqual((await origin.store.range('val-1')).map(r => r.payload?.toString()))
    await expect(peer.store.getPayload('val-1', 1)).rejects.toHaveProperty('name', 'DataKeyUnavailableError')
    expect(await peer.store.summary({ resolution: 'day', from: T0, to: T0 + DAY_MS })).toMatchObject({ count: 2 })
    // a raw field smuggled into a replicated batch is refused like a local one
    await expect(peer.store.applyRemote({ attestations: [{ ...published[0].attestations[1], height: 9, eeg: [1] } as any] }, 'val-1')).rejects.toHaveProperty('name', 'RawBiometricFieldError')
  })

  it('an erasure record replicates: the peer deletes the validator\'s records and refuses older ones', async () => {
    const origin = await open()
    const peer = await open()
    const batches: AttestationBatch[] = []
    const erasures: ErasureRecord[] = []
    origin.store.onIngest(b => { batches.push(b) })
    origin.store.onErasure(r => { erasures.push(r) })
    await origin.store.ingest([attestation('val-1', 1, T0, 0.5, { payload: Uint8Array.of(1) }), attestation('val-2', 1, T0, 0.9)])
    await peer.store.applyRemote({ attestations: batches[0].attestations.filter(a => a.validator === 'val-1') }, 'val-1')
    await peer.store.applyRemote({ attestations: batches[0].attestations.filter(a => a.validator === 'val-2') }, 'val-2')
    const erased = await origin.store.erase('val-1')
    expect(erased).toMatchObject({ validator: 'val-1', records: 1, payloads: 1, keyDestroyed: true })
    expect(erasures).toEqual([{ validator: 'val-1', erasedAt: erased.erasedAt }])
    expect(Object.keys(erasures[0]).sort()).toEqual(['erasedAt', 'validator'])
    expect(await peer.store.applyErasure(erasures[0])).toMatchObject({ records: 1, payloads: 1 })
    expect(await peer.store.applyErasure(erasures[0])).toMatchObject({ records: 0 })
    await expect(peer.store.getPayload('val-1', 1)).rejects.toHaveProperty('name', 'ErasedError')
    expect(await peer.store.applyRemote({ attestations: batches[0].attestations.filter(a => a.validator === 'val-1') }, 'val-1')).toMatchObject({ stored: 0, erased: 1 })
    expect(await peer.store.summary({ resolution: 'day', from: T0, to: T0 + DAY_MS })).toMatchObject({ count: 1, min: 0.9, max: 0.9 })
    await expect(peer.store.applyErasure({ validator: 'val-1', erasedAt: 1, reason: 'x' } as any)).rejects.toHaveProperty('name', 'InvalidReplicationRecordError')
  })

  it('exportValidator gives records, opened payloads and aggregates; after erasure, the erasure record', async () => {
    const { store } = await open()
    await store.ingest([attestation('val-1', 1, T0, 0.25, { payload: { note: 'ok' } }), attestation('val-1', 2, T0 + 60_000, 0.75), attestation('val-2', 1, T0, 0.5)])
    const ex = await store.exportValidator('val-1')
    expect(ex.attestations.map(a => a.height)).toEqual([1, 2])
    expect(ex.attestations[0].payloadPlaintext).toEqual({ note: 'ok' })
    expect(ex.attestations[0].commitment?.digest).toHaveLength(32)
    expect(ex.dataKeyHeld).toBe(true)
    expect(ex.aggregates.day).toEqual([expect.objectContaining({ bucket: T0, count: 2, mean: 0.5 })])
    expect(ex.aggregates.minute).toHaveLength(2)
    await store.erase('val-1')
    const after = await store.exportValidator('val-1')
    expect(after).toMatchObject({ attestations: [], dataKeyHeld: false, erasure: { validator: 'val-1' }, aggregates: { minute: [], hour: [], day: [] } })
  })
})
