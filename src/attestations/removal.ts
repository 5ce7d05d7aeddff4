import type { CID } from 'multiformats/cid'
import { readPin, releaseInBatch } from '../pinning/records.ts'
import { blockKey, readU64, writeU64 } from '../storage/keys.ts'
import type { RootDb, StoreBatch } from '../storage/level.ts'
import type { AbortOptions } from '../storage/types.ts'
import { decodeRecord, encodeRecord, type RecordValue } from './codec.ts'
import { SWEEP_CHUNK } from './constants.ts'
import { heightKey, metaKey, parseRecordKey, parseTimeKey, recordKey, recordPrefix, registryKey, timeBound, timeKey } from './keys.ts'
import { RollupChanges, goneId } from './rollups.ts'

/*
 * How attestation records leave the store: deleted whole (retention of
 * scores, erasure), or stripped of a field (retention of commitments and
 * payloads). Each runs in the store's write lock, one LevelDB batch per chunk.
 */

/** What removals read and write. */
export interface RemovalContext {
  db: RootDb
  sync: boolean
  batch: () => StoreBatch
}

/** Where each field's retention sweep stopped last time. */
const WATERMARK = { commitments: metaKey('sweep.commitments'), payload: metaKey('sweep.payload') } as const

/** A stored record being removed: where it is and what it holds. */
export interface Doomed {
  validator: string
  timestamp: number
  height: number
  value: RecordValue
}

/** 8 big-endian bytes of a number. */
export function u64 (n: number): Uint8Array {
  const b = new Uint8Array(8)
  writeU64(b, 0, n)
  return b
}

/** Deletes records in a batch: record, indexes, rollup share, payload pin and block, registry count. */
export async function removeRecords (ctx: RemovalContext, batch: StoreBatch, doomed: Doomed[]): Promise<{ payloads: number, rebuilt: number }> {
  const rollups = new RollupChanges()
  const counts = new Map<string, number>()
  const gone = new Set<string>()
  let payloads = 0
  for (const d of doomed) {
    batch.del(recordKey(d.validator, d.timestamp, d.height))
    batch.del(heightKey(d.validator, d.height))
    batch.del(timeKey(d.timestamp, d.validator, d.height))
    if (d.value.payload != null) { dropPayload(ctx, batch, d.value.payload); payloads++ }
    rollups.add(d.validator, d.height, d.timestamp, d.value.score)
    counts.set(d.validator, (counts.get(d.validator) ?? 0) - 1)
    gone.add(goneId(d.validator, d.timestamp, d.height))
  }
  const rebuilt = await rollups.applyRemove(ctx.db, batch, gone)
  countDelta(ctx, batch, counts)
  return { payloads, rebuilt }
}

/** Releases the attestation hold on a payload and deletes its block when nothing else holds it. */
export function dropPayload (ctx: RemovalContext, batch: StoreBatch, cid: CID): void {
  const pin = readPin(ctx.db, cid)
  releaseInBatch(batch, () => pin, cid, 'attestation')
  if (pin == null || pin.reasons.every(r => r === 'attestation')) batch.delBlock(blockKey(cid))
}

/** Strips one field from records older than `cutoff`, walking the time index from the last sweep's watermark. */
export async function stripField (ctx: RemovalContext, field: 'commitments' | 'payload', cutoff: number, options: AbortOptions): Promise<number> {
  const mark = ctx.db.getSync(WATERMARK[field])
  const from = mark == null ? 0 : readU64(mark, 0)
  if (cutoff <= from) return 0
  let stripped = 0
  let after: Uint8Array | undefined
  for (;;) {
    options.signal?.throwIfAborted()
    const batch = ctx.batch()
    let seen = 0
    const range = after == null ? { gte: timeBound(from) } : { gt: after }
    for await (const key of ctx.db.keys({ ...range, lt: timeBound(cutoff), limit: SWEEP_CHUNK })) {
      seen++
      after = key
      const { timestamp, validator, height } = parseTimeKey(key)
      const rk = recordKey(validator, timestamp, height)
      const bytes = ctx.db.getSync(rk)
      if (bytes == null) continue
      const value = decodeRecord(bytes)
      if (field === 'commitments') {
        if (value.commitment == null) continue
        delete value.commitment
      } else {
        if (value.payload == null) continue
        dropPayload(ctx, batch, value.payload)
        delete value.payload
      }
      batch.put(rk, encodeRecord(value))
      stripped++
    }
    if (seen < SWEEP_CHUNK) batch.put(WATERMARK[field], u64(cutoff))
    await batch.write(ctx.sync)
    if (seen < SWEEP_CHUNK) return stripped
  }
}

/** Deletes a validator's records dated at or before `upTo`, chunk by chunk, then compacts their key ranges. */
export async function purgeValidator (ctx: RemovalContext, validator: string, upTo: number, options: AbortOptions): Promise<{ records: number, payloads: number }> {
  let records = 0
  let payloads = 0
  const gte = recordPrefix(validator, 0)
  const lt = recordPrefix(validator, upTo + 1)
  for (;;) {
    options.signal?.throwIfAborted()
    const doomed: Doomed[] = []
    for await (const [key, value] of ctx.db.iterator({ gte, lt, limit: SWEEP_CHUNK })) {
      const { timestamp, height } = parseRecordKey(key)
      doomed.push({ validator, timestamp, height, value: decodeRecord(value) })
    }
    if (doomed.length === 0) break
    const batch = ctx.batch()
    const removed = await removeRecords(ctx, batch, doomed)
    await batch.write(ctx.sync)
    records += doomed.length
    payloads += removed.payloads
  }
  if (records > 0) await ctx.db.compactRange(gte, lt)
  return { records, payloads }
}

/** Adjusts the per-validator record counts of the registry in a batch. */
export function countDelta (ctx: RemovalContext, batch: StoreBatch, deltas: Map<string, number>): void {
  for (const [validator, d] of deltas) {
    const key = registryKey(validator)
    const stored = ctx.db.getSync(key)
    const n = (stored == null ? 0 : readU64(stored, 0)) + d
    if (n <= 0) batch.del(key)
    else batch.put(key, u64(n))
  }
}

/** Deletes every record older than `cutoff` (the scores' retention) with its rollup share, chunk by chunk. */
export async function removeOlderThan (ctx: RemovalContext, cutoff: number, options: AbortOptions): Promise<{ records: number, payloads: number, rebuilt: number }> {
  const result = { records: 0, payloads: 0, rebuilt: 0 }
  for (;;) {
    options.signal?.throwIfAborted()
    const doomed: Doomed[] = []
    const orphans: Uint8Array[] = []
    for await (const key of ctx.db.keys({ gte: timeBound(0), lt: timeBound(cutoff), limit: SWEEP_CHUNK })) {
      const { timestamp, validator, height } = parseTimeKey(key)
      const value = ctx.db.getSync(recordKey(validator, timestamp, height))
      if (value == null) orphans.push(key)
      else doomed.push({ validator, timestamp, height, value: decodeRecord(value) })
    }
    if (doomed.length === 0 && orphans.length === 0) break
    const batch = ctx.batch()
    for (const k of orphans) batch.del(k)
    const removed = await removeRecords(ctx, batch, doomed)
    await batch.write(ctx.sync)
    result.records += doomed.length
    result.payloads += removed.payloads
    result.rebuilt += removed.rebuilt
  }
  return result
}
