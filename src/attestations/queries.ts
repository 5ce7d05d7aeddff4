import { PREFIX, prefixRange, readU64 } from '../storage/keys.ts'
import type { RootDb } from '../storage/level.ts'
import { InvalidQueryError } from '../storage/errors.ts'
import { type Agg, addScore, decodeAgg, decodeRecord, emptyAgg, mergeAgg, toBucket } from './codec.ts'
import { BUCKET_MS, DEFAULT_RANGE_LIMIT, MAX_AGGREGATE_BUCKETS, MAX_RANGE_LIMIT, RESOLUTIONS } from './constants.ts'
import { bucketOfKey, heightKey, parseRecordKey, recordKey, recordPrefix, registryKey, rollupKey, rollupPrefix, validatorOfKey } from './keys.ts'
import { checkValidatorId } from './model.ts'
import { bucketStart } from './rollups.ts'
import type { AggregateQuery, AttestationRecord, BucketAggregate, RangeQuery, TimeWindow, TrendEntry } from './types.ts'

function checkBound (v: unknown, name: string): number | undefined {
  if (v === undefined) return undefined
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new InvalidQueryError(`${name}: expected a non-negative safe integer, got ${String(v)}`)
  return v
}

/** Builds the public record from a record key and value. */
export function toRecord (key: Uint8Array, value: Uint8Array): AttestationRecord {
  const { validator, timestamp, height } = parseRecordKey(key)
  const r = decodeRecord(value)
  return { validator, height, timestamp, score: r.score, ...(r.scores != null ? { scores: r.scores } : {}), ...(r.commitment != null ? { commitment: r.commitment } : {}), ...(r.payload != null ? { payload: r.payload } : {}) }
}

/** A validator's record at a height, if stored. */
export function readRecord (db: RootDb, validator: string, height: number): AttestationRecord | undefined {
  const ts = db.getSync(heightKey(validator, height))
  if (ts == null) return undefined
  const key = recordKey(validator, readU64(ts, 0), height)
  const value = db.getSync(key)
  return value == null ? undefined : toRecord(key, value)
}

/** One validator's records over a time or height range (half-open), in order; no limit. */
export async function * series (db: RootDb, validator: string, q: RangeQuery = {}): AsyncGenerator<AttestationRecord> {
  checkValidatorId(validator)
  const fromTime = checkBound(q.fromTime, 'fromTime')
  const toTime = checkBound(q.toTime, 'toTime')
  const fromHeight = checkBound(q.fromHeight, 'fromHeight')
  const toHeight = checkBound(q.toHeight, 'toHeight')
  const byHeight = fromHeight != null || toHeight != null
  if (byHeight && (fromTime != null || toTime != null)) throw new InvalidQueryError('range: bound by time or by height, not both')
  const reverse = q.reverse === true
  const limit = q.limit ?? Infinity
  let n = 0
  if (!byHeight) {
    const gte = recordPrefix(validator, fromTime ?? 0)
    const lt = toTime != null ? recordPrefix(validator, toTime) : recordPrefix(validator, Number.MAX_SAFE_INTEGER)
    for await (const [key, value] of db.iterator({ gte, lt, reverse })) {
      q.signal?.throwIfAborted()
      yield toRecord(key, value)
      if (++n >= limit) return
    }
    return
  }
  const gte = heightKey(validator, fromHeight ?? 0)
  const lt = heightKey(validator, toHeight ?? Number.MAX_SAFE_INTEGER)
  for await (const [key, ts] of db.iterator({ gte, lt, reverse })) {
    q.signal?.throwIfAborted()
    const height = readU64(key, 2 + key[1])
    const rk = recordKey(validator, readU64(ts, 0), height)
    const value = db.getSync(rk)
    if (value == null) continue
    yield toRecord(rk, value)
    if (++n >= limit) return
  }
}

/** One page of `series`: at most `limit` records (default 1000, at most 10,000). */
export async function range (db: RootDb, validator: string, q: RangeQuery = {}): Promise<AttestationRecord[]> {
  const limit = q.limit ?? DEFAULT_RANGE_LIMIT
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_RANGE_LIMIT) throw new InvalidQueryError(`limit: expected an integer from 1 to ${MAX_RANGE_LIMIT}, got ${String(limit)}`)
  const out: AttestationRecord[] = []
  for await (const r of series(db, validator, { ...q, limit })) out.push(r)
  return out
}

function checkAggregateQuery (q: AggregateQuery): void {
  if (q == null || !(RESOLUTIONS as readonly unknown[]).includes(q.resolution)) throw new InvalidQueryError(`resolution: expected one of ${RESOLUTIONS.join(', ')}, got ${String(q?.resolution)}`)
  if (q.validator !== undefined) checkValidatorId(q.validator)
  checkBound(q.from, 'from')
  checkBound(q.to, 'to')
  if (q.from == null || q.to == null) throw new InvalidQueryError('aggregate: from and to are required')
}

/** Raw aggregates per bucket over [from, to), read from the rollups (a validator's rounds from its height index). */
async function * buckets (db: RootDb, q: AggregateQuery): AsyncGenerator<[number, Agg]> {
  checkAggregateQuery(q)
  if (q.resolution === 'round' && q.validator != null) {
    for await (const r of series(db, q.validator, { fromHeight: q.from, toHeight: q.to, signal: q.signal })) {
      const a = emptyAgg()
      addScore(a, r.score)
      yield [r.height, a]
    }
    return
  }
  const from = q.resolution === 'round' ? q.from : bucketStart(q.resolution, q.from)
  if (q.to <= from) return
  const gte = rollupKey(q.resolution, q.validator, from)
  const lt = rollupKey(q.resolution, q.validator, q.to)
  for await (const [key, value] of db.iterator({ gte, lt, limit: MAX_AGGREGATE_BUCKETS })) {
    q.signal?.throwIfAborted()
    yield [bucketOfKey(key), decodeAgg(value)]
  }
}

/** Aggregates per non-empty bucket over [from, to): a validator's, or the network's when `validator` is omitted. */
export async function aggregate (db: RootDb, q: AggregateQuery): Promise<BucketAggregate[]> {
  const out: BucketAggregate[] = []
  for await (const [b, a] of buckets(db, q)) out.push(toBucket(b, a))
  return out
}

/** One aggregate over every bucket in [from, to); undefined when none holds a score. */
export async function summary (db: RootDb, q: AggregateQuery): Promise<BucketAggregate | undefined> {
  const total = emptyAgg()
  for await (const [, a] of buckets(db, q)) mergeAgg(total, a)
  return total.count === 0 ? undefined : toBucket(q.from, total)
}

/** The coarsest time resolution whose buckets tile every window exactly. */
function tilingResolution (windows: TimeWindow[]): 'minute' | 'hour' | 'day' {
  for (const r of ['day', 'hour', 'minute'] as const) {
    if (windows.every(w => w.from % BUCKET_MS[r] === 0 && w.to % BUCKET_MS[r] === 0)) return r
  }
  throw new InvalidQueryError('trending: window bounds must fall on whole minutes (rollups are per minute, hour and day)')
}

/**
 * Validators whose mean score moved most between two windows (largest
 * |after - before| first), from rollups only. Validators without `minCount`
 * scores in both windows are left out.
 */
export async function trending (db: RootDb, q: { before: TimeWindow, after: TimeWindow, limit?: number, minCount?: number, signal?: AbortSignal }): Promise<TrendEntry[]> {
  for (const [name, w] of [['before', q.before], ['after', q.after]] as const) {
    if (w == null) throw new InvalidQueryError(`${name}: expected { from, to }`)
    checkBound(w.from, `${name}.from`)
    checkBound(w.to, `${name}.to`)
    if (w.to <= w.from) throw new InvalidQueryError(`${name}: to must be after from`)
  }
  const limit = q.limit ?? 10
  const minCount = q.minCount ?? 1
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_RANGE_LIMIT) throw new InvalidQueryError(`limit: expected an integer from 1 to ${MAX_RANGE_LIMIT}`)
  const resolution = tilingResolution([q.before, q.after])
  const out: TrendEntry[] = []
  for await (const key of db.keys(prefixRange(Uint8Array.of(PREFIX.ATTEST_VALIDATOR)))) {
    q.signal?.throwIfAborted()
    const validator = validatorOfKey(key)
    const before = await summary(db, { validator, resolution, from: q.before.from, to: q.before.to })
    if (before == null || before.count < minCount) continue
    const after = await summary(db, { validator, resolution, from: q.after.from, to: q.after.to })
    if (after == null || after.count < minCount) continue
    out.push({ validator, before: { count: before.count, mean: before.mean }, after: { count: after.count, mean: after.mean }, delta: after.mean - before.mean })
  }
  out.sort((a, b) => Math.abs(b.delta) - Math.abs(a.delta) || (a.validator < b.validator ? -1 : 1))
  return out.slice(0, limit)
}

/** Every rollup bucket of one validator at a time resolution. */
export async function allBuckets (db: RootDb, validator: string, resolution: 'minute' | 'hour' | 'day'): Promise<BucketAggregate[]> {
  const out: BucketAggregate[] = []
  for await (const [key, value] of db.iterator(prefixRange(rollupPrefix(resolution, validator)))) out.push(toBucket(bucketOfKey(key), decodeAgg(value)))
  return out
}

/** Validators with records stored here, and how many. */
export async function * validators (db: RootDb): AsyncGenerator<{ validator: string, count: number }> {
  for await (const [key, value] of db.iterator(prefixRange(Uint8Array.of(PREFIX.ATTEST_VALIDATOR)))) {
    yield { validator: validatorOfKey(key), count: readU64(value, 0) }
  }
}

/** A validator's record count (0 when none). */
export function countOf (db: RootDb, validator: string): number {
  const v = db.getSync(registryKey(validator))
  return v == null ? 0 : readU64(v, 0)
}
