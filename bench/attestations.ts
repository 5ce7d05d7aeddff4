/**
 * Attestations part: batched ingest of validator attestations (plain and
 * with a sealed payload) against raw classic-level batches of the same
 * bytes, the cost of AES-256-GCM sealing, and range-query and aggregate
 * latency over the whole data set (BENCH_ATTEST_POINTS, default 10 million).
 */
import { join } from 'node:path'
import { AttestationStore, Keystore, MasterKey, DAY_MS, type AttestationInput } from '../src/attestations/index.ts'
import { openLevel, type BlocksDb, type RootDb } from '../src/storage/level.ts'
import { startBatch } from '../src/storage/level.ts'
import { envInt, figure, fmt, openRaw, percentile, progress, quietLogger, settle, type Figure } from './common.ts'

/** Sizes of the attestations part. */
export interface AttestationBenchOptions {
  /** Attestations in the large data set (the plain ingest, then every query runs over it). */
  points: number
  /** Attestations ingested with a 64-byte payload (sealed, stored as a pinned raw block). */
  payloadPoints: number
  validators: number
  /** Attestations per `ingest` call (one LevelDB batch). */
  batch: number
  /** Timed calls per query kind. */
  queryOps: number
}

/** BENCH_ATTEST_POINTS, BENCH_ATTEST_PAYLOAD_POINTS, BENCH_ATTEST_VALIDATORS, BENCH_ATTEST_BATCH, BENCH_ATTEST_QUERIES. */
export function attestationOptionsFromEnv (): AttestationBenchOptions {
  return {
    points: envInt('BENCH_ATTEST_POINTS', 10_000_000),
    payloadPoints: envInt('BENCH_ATTEST_PAYLOAD_POINTS', 200_000),
    validators: envInt('BENCH_ATTEST_VALIDATORS', 100),
    batch: envInt('BENCH_ATTEST_BATCH', 5000),
    queryOps: envInt('BENCH_ATTEST_QUERIES', 500)
  }
}

const T0 = Date.UTC(2026, 0, 1)
/** One round every 5 s; every validator attests each round. */
const ROUND_MS = 5000
const COMMITMENT = { scheme: 'hmac-sha256' as const, digest: new Uint8Array(32).fill(9), nonce: new Uint8Array(16).fill(4) }
const PAYLOAD = new Uint8Array(64).fill(1)

function rng (seed: number): () => number {
  let s = seed >>> 0
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32 }
}

/** Attestation number `i` of the data set (generated on the fly: nothing buffers 10 million objects). */
function point (i: number, validators: number, random: () => number, payload: boolean): AttestationInput {
  const round = Math.floor(i / validators)
  const v = i % validators
  const a: AttestationInput = {
    validator: `validator-${String(v).padStart(4, '0')}`,
    height: round,
    timestamp: T0 + round * ROUND_MS + Math.floor(random() * 1000),
    score: Math.round(random() * 10_000) / 10_000,
    commitment: COMMITMENT
  }
  if (payload) a.payload = PAYLOAD
  return a
}

async function open (dir: string, end: number): Promise<{ db: RootDb, blocks: BlocksDb, store: AttestationStore, keystore: Keystore }> {
  const { db, blocks } = await openLevel(dir, { writeBufferSize: 64 * 1024 * 1024, cacheSize: 32 * 1024 * 1024 })
  const keystore = await Keystore.open({ db, masterKey: MasterKey.parse(MasterKey.generateHex()), logger: quietLogger, sync: false })
  const store = await AttestationStore.open({ db, blocks, keystore, logger: quietLogger, sync: false, retention: { scoresMs: 3650 * DAY_MS, commitmentsMs: 3650 * DAY_MS, payloadMs: 3650 * DAY_MS }, now: () => end, maxClockSkewMs: 0 })
  return { db, blocks, store, keystore }
}

async function ingestAll (store: AttestationStore, n: number, opts: AttestationBenchOptions, payload: boolean, label: string): Promise<{ perSec: number, ms: number, genMs: number }> {
  const random = rng(payload ? 2 : 1)
  let genMs = 0
  const started = performance.now()
  let lastReport = started
  for (let i = 0; i < n; i += opts.batch) {
    const g = performance.now()
    const batch: AttestationInput[] = []
    for (let j = i; j < Math.min(n, i + opts.batch); j++) batch.push(point(j, opts.validators, random, payload))
    genMs += performance.now() - g
    await store.ingest(batch)
    if (performance.now() - lastReport > 15_000) {
      lastReport = performance.now()
      progress(`attestations: ${label} ${fmt(i + opts.batch)} / ${fmt(n)} (${fmt((i + opts.batch) / ((lastReport - started - genMs) / 1000))}/s)`)
    }
  }
  const ms = performance.now() - started - genMs
  return { perSec: n / (ms / 1000), ms, genMs }
}

/**
 * Replays the final key/value bytes of the store's LevelDB into a fresh one
 * in as many raw batches as the store wrote; only the batch writes are timed
 * (reading the source is not).
 */
async function rawReplay (from: RootDb, dir: string, batches: number): Promise<{ perSec: number, ms: number, entries: number, bytes: number }> {
  let entries = 0
  for await (const _ of from.keys()) entries++
  const per = Math.ceil(entries / batches)
  const raw = await openRaw(dir)
  let ms = 0
  let bytes = 0
  const it = from.iterator()
  for (;;) {
    const chunk = await it.nextv(per)
    if (chunk.length === 0) break
    const chained = raw.batch()
    for (const [k, v] of chunk) { chained.put(k, v); bytes += k.length + v.length }
    const t = performance.now()
    await chained.write()
    ms += performance.now() - t
  }
  await it.close()
  await raw.close()
  return { perSec: entries / (ms / 1000), ms, entries, bytes }
}

interface Latency { p50us: number, p99us: number, opsPerSec: number, ops: number }

async function time (ops: number, fn: (i: number) => Promise<unknown>): Promise<Latency> {
  for (let i = 0; i < Math.min(20, ops); i++) await fn(i)
  const samples = new Float64Array(ops)
  const started = performance.now()
  for (let i = 0; i < ops; i++) {
    const t = performance.now()
    await fn(i)
    samples[i] = (performance.now() - t) * 1000
  }
  const total = performance.now() - started
  samples.sort()
  return { p50us: percentile(samples, 50), p99us: percentile(samples, 99), opsPerSec: ops / (total / 1000), ops }
}

/** Runs the part in `root`; returns its figures. */
export async function runAttestations (root: string, opts: AttestationBenchOptions): Promise<Figure[]> {
  const figures: Figure[] = []
  const group = 'attestations'
  const rounds = Math.ceil(opts.points / opts.validators)
  const end = T0 + rounds * ROUND_MS + 60_000
  const batches = Math.ceil(opts.points / opts.batch)

  // 1. plain ingest of the large set
  progress(`attestations: ingesting ${fmt(opts.points)} attestations (${opts.validators} validators × ${fmt(rounds)} rounds of ${ROUND_MS / 1000} s) in batches of ${fmt(opts.batch)}`)
  const big = await open(join(root, 'attest-big'), end)
  const plain = await ingestAll(big.store, opts.points, opts, false, 'plain')
  progress(`attestations: plain ingest ${fmt(plain.perSec)}/s (${fmt(plain.ms / 1000, 1)} s)`)
  const raw = await rawReplay(big.db, join(root, 'attest-raw'), batches)
  progress(`attestations: raw replay of the same ${fmt(raw.entries)} entries (${fmt(raw.bytes / 2 ** 20)} MiB) ${fmt(raw.ms / 1000, 1)} s`)
  const rawAttPerSec = opts.points / (raw.ms / 1000)
  figures.push(figure({ id: 'attestations.ingest.plain.perSec', group, label: `ingest(), ${fmt(opts.batch)} per batch, no payload`, unit: 'attestations/s', value: plain.perSec, better: 'higher', baseline: { label: `raw classic-level batches of the same final bytes (${fmt(raw.entries)} entries)`, value: rawAttPerSec }, detail: { ...plain, raw, points: opts.points } }))

  // 2. queries over the large set
  await settle()
  const random = rng(3)
  const vid = (): string => `validator-${String(Math.floor(random() * opts.validators)).padStart(4, '0')}`
  const span = rounds * ROUND_MS
  const at = (window: number): number => T0 + Math.floor(random() * Math.max(1, span - window))
  const q: Record<string, Latency> = {}
  q.rangeHour = await time(opts.queryOps, async () => { const from = at(3_600_000); return await big.store.range(vid(), { fromTime: from, toTime: from + 3_600_000 }) })
  q.rangeHeights = await time(opts.queryOps, async () => { const from = Math.floor(random() * Math.max(1, rounds - 100)); return await big.store.range(vid(), { fromHeight: from, toHeight: from + 100 }) })
  const dayWindow = Math.min(DAY_MS, span)
  q.aggValidatorMinuteDay = await time(opts.queryOps, async () => { const from = at(dayWindow); return await big.store.aggregate({ validator: vid(), resolution: 'minute', from, to: from + dayWindow }) })
  q.aggNetworkHourAll = await time(Math.min(opts.queryOps, 200), async () => await big.store.aggregate({ resolution: 'hour', from: T0, to: end }))
  q.aggNetworkRound100 = await time(opts.queryOps, async () => { const from = Math.floor(random() * Math.max(1, rounds - 100)); return await big.store.aggregate({ resolution: 'round', from, to: from + 100 }) })
  q.summaryValidatorDay = await time(opts.queryOps, async () => { const from = at(dayWindow); return await big.store.summary({ validator: vid(), resolution: 'hour', from: Math.floor(from / 3_600_000) * 3_600_000, to: Math.floor(from / 3_600_000) * 3_600_000 + dayWindow }) })
  const half = Math.floor(span / 2 / 3_600_000) * 3_600_000
  q.trending = await time(Math.min(opts.queryOps, 20), async () => await big.store.trending({ before: { from: T0, to: T0 + half }, after: { from: T0 + half, to: T0 + 2 * half } }))
  // the baseline a rollup replaces: scanning one validator's records for a day and aggregating them
  q.scanValidatorDay = await time(Math.min(opts.queryOps, 50), async () => {
    const from = at(dayWindow)
    let n = 0; let sum = 0; let min = Infinity; let max = -Infinity
    const scores: number[] = []
    for await (const r of big.store.series(vid(), { fromTime: from, toTime: from + dayWindow })) { n++; sum += r.score; if (r.score < min) min = r.score; if (r.score > max) max = r.score; scores.push(r.score) }
    scores.sort((a, b) => a - b)
    return [n, sum, min, max, scores[Math.floor(n / 2)]]
  })
  for (const [k, m] of Object.entries(q)) progress(`attestations query ${k}: p50 ${fmt(m.p50us, 1)} µs, p99 ${fmt(m.p99us, 1)} µs, ${fmt(m.opsPerSec)}/s`)
  const rows: Array<[string, string, string?]> = [
    ['rangeHour', `range(validator, 1 hour by time) ≈ ${Math.round(3_600_000 / ROUND_MS)} records`],
    ['rangeHeights', 'range(validator, 100 heights)'],
    ['aggValidatorMinuteDay', 'aggregate(validator, minute, 1 day) = 1,440 buckets', 'scanValidatorDay'],
    ['summaryValidatorDay', 'summary(validator, hour buckets, 1 day)', 'scanValidatorDay'],
    ['aggNetworkRound100', 'aggregate(network, round, 100 rounds)'],
    ['aggNetworkHourAll', `aggregate(network, hour, whole set) = ${fmt(Math.ceil(span / 3_600_000))} buckets`],
    ['trending', `trending(two ${fmt(half / 3_600_000)}-hour windows, ${opts.validators} validators)`]
  ]
  for (const [key, label, base] of rows) {
    const m = q[key]
    const b = base != null ? q[base] : undefined
    figures.push(figure({ id: `attestations.query.${key}.p50us`, group: `attestation queries over ${fmt(opts.points)} points`, label, unit: 'µs', value: m.p50us, better: 'lower', ...(b != null ? { baseline: { label: 'scan the validator\'s records for the day and aggregate them', value: b.p50us } } : {}), detail: { ...m } }))
    figures.push(figure({ id: `attestations.query.${key}.p99us`, group: `attestation queries over ${fmt(opts.points)} points`, label: '  p99', unit: 'µs', value: m.p99us, better: 'lower' }))
  }
  await big.store.close()
  await big.db.close()

  // 3. encryption: ingest with a sealed 64-byte payload vs the same attestations without, and the seal alone
  const n = opts.payloadPoints
  const endSmall = T0 + Math.ceil(n / opts.validators) * ROUND_MS + 60_000
  const withPlain = await open(join(root, 'attest-plain-small'), endSmall)
  const p = await ingestAll(withPlain.store, n, opts, false, 'plain (small)')
  await withPlain.store.close(); await withPlain.db.close()
  const withPayload = await open(join(root, 'attest-payload'), endSmall)
  const e = await ingestAll(withPayload.store, n, opts, true, 'sealed payload')
  // the seal alone: AES-256-GCM of 65 bytes under a cached data key
  const sink = startBatch(withPayload.db, withPayload.blocks)
  const aad = new TextEncoder().encode('validator-0000\u00001')
  const framed = new Uint8Array(65)
  const sealStart = performance.now()
  const sealOps = 200_000
  for (let i = 0; i < sealOps; i++) withPayload.keystore.sealInBatch(sink, 'validator/validator-0000', framed, aad)
  const sealUs = (performance.now() - sealStart) * 1000 / sealOps
  await withPayload.store.close(); await withPayload.db.close()
  progress(`attestations: ${fmt(n)} with sealed payload ${fmt(e.perSec)}/s vs ${fmt(p.perSec)}/s without; seal alone ${fmt(sealUs, 2)} µs`)
  figures.push(figure({ id: 'attestations.ingest.payload.perSec', group, label: `ingest(), 64-byte payload sealed (AES-256-GCM) + raw block + pin, ${fmt(n)} points`, unit: 'attestations/s', value: e.perSec, better: 'higher', baseline: { label: 'same attestations without payload', value: p.perSec }, detail: { sealed: e, plain: p } }))
  figures.push(figure({ id: 'attestations.seal.us', group, label: 'seal one payload (AES-256-GCM, 65 bytes, cached key)', unit: 'µs', value: sealUs, better: 'lower' }))
  return figures
}
