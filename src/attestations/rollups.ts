import { PREFIX, prefixRange, readU64 } from '../storage/keys.ts'
import type { RootDb } from '../storage/level.ts'
import type { WriteBatch } from '../storage/types.ts'
import { type Agg, addScore, decodeAgg, decodeRecord, emptyAgg, encodeAgg, mergeAgg, subtractAgg } from './codec.ts'
import { BUCKET_MS } from './constants.ts'
import { heightKey, recordKey, recordPrefix, rollupKey, validatorOfKey } from './keys.ts'
import type { Resolution } from './types.ts'

/** Per-validator rollups are kept by time; a validator's round is its one record (the height index answers it). */
const VALIDATOR_RESOLUTIONS = ['minute', 'hour', 'day'] as const
const TIME_RESOLUTIONS = ['minute', 'hour', 'day'] as const

/** Start of the time bucket that holds `timestamp`. */
export function bucketStart (resolution: 'minute' | 'hour' | 'day', timestamp: number): number {
  const size = BUCKET_MS[resolution]
  return Math.floor(timestamp / size) * size
}

interface Entry {
  resolution: Resolution
  validator: string | undefined
  bucket: number
  key: Uint8Array
  delta: Agg
}

/** Key of a record whose deletion is part of the batch being built (skipped by rebuilds). */
export function goneId (validator: string, timestamp: number, height: number): string {
  return `${validator}\0${timestamp}\0${height}`
}

/**
 * The rollup changes of one batch: scores added (ingest) or removed
 * (retention, erasure), summed per bucket first, so a batch of thousands of
 * attestations reads and writes each touched bucket once.
 */
export class RollupChanges {
  readonly #entries = new Map<string, Entry>()

  get size (): number {
    return this.#entries.size
  }

  /** Counts a score into every bucket it belongs to: the validator's minute/hour/day, the network's round/minute/hour/day. */
  add (validator: string, height: number, timestamp: number, score: number): void {
    for (const r of VALIDATOR_RESOLUTIONS) addScore(this.#entry(r, validator, bucketStart(r, timestamp)), score)
    addScore(this.#entry('round', undefined, height), score)
    for (const r of TIME_RESOLUTIONS) addScore(this.#entry(r, undefined, bucketStart(r, timestamp)), score)
  }

  /** Adds the summed scores into the stored buckets. */
  applyAdd (db: RootDb, batch: WriteBatch): void {
    for (const e of this.#entries.values()) {
      const stored = db.getSync(e.key)
      const agg = stored == null ? e.delta : mergeInto(decodeAgg(stored), e.delta)
      batch.put(e.key, encodeAgg(agg))
    }
  }

  /**
   * Removes the summed scores from the stored buckets. A bucket left empty is
   * deleted; a bucket that lost its min or max is rebuilt from what stays:
   * a validator's from its records, the network's round from each
   * validator's record at that height, the network's time buckets from the
   * validators' buckets. `gone` holds the records this batch deletes.
   * Returns the number of buckets rebuilt.
   */
  async applyRemove (db: RootDb, batch: WriteBatch, gone: Set<string>): Promise<number> {
    const pending = new Map<string, Agg | null>()
    let rebuilt = 0
    const ordered = [...this.#entries.values()].sort((a, b) => rank(a) - rank(b))
    for (const e of ordered) {
      const id = keyId(e.key)
      const stored = db.getSync(e.key)
      if (stored == null) continue
      const agg = decodeAgg(stored)
      let next: Agg | null = agg
      if (subtractAgg(agg, e.delta)) {
        if (agg.count === 0) next = null
      } else {
        next = await rebuild(db, e, gone, pending)
        rebuilt++
      }
      pending.set(id, next)
      if (next == null || next.count === 0) batch.del(e.key)
      else batch.put(e.key, encodeAgg(next))
    }
    return rebuilt
  }

  #entry (resolution: Resolution, validator: string | undefined, bucket: number): Agg {
    // a string id first: building the key for every score of a batch costs more than the rest of the add
    const id = `${resolution}\0${validator ?? ''}\0${bucket}`
    let e = this.#entries.get(id)
    if (e == null) {
      e = { resolution, validator, bucket, key: rollupKey(resolution, validator, bucket), delta: emptyAgg() }
      this.#entries.set(id, e)
    }
    return e.delta
  }
}

/** Validator buckets first: the network's time buckets are rebuilt from them. */
function rank (e: Entry): number {
  return e.validator != null ? 0 : e.resolution === 'round' ? 1 : 2
}

function keyId (key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1')
}

function mergeInto (a: Agg, b: Agg): Agg {
  mergeAgg(a, b)
  return a
}

async function rebuild (db: RootDb, e: Entry, gone: Set<string>, pending: Map<string, Agg | null>): Promise<Agg | null> {
  const agg = emptyAgg()
  if (e.validator != null) {
    // a validator's time bucket: its records in [bucket, bucket + size)
    const size = BUCKET_MS[e.resolution as 'minute' | 'hour' | 'day']
    const gte = recordPrefix(e.validator, e.bucket)
    const lt = recordPrefix(e.validator, e.bucket + size)
    for await (const [key, value] of db.iterator({ gte, lt })) {
      const at = 2 + key[1]
      if (gone.has(goneId(e.validator, readU64(key, at), readU64(key, at + 8)))) continue
      addScore(agg, decodeRecord(value).score)
    }
  } else {
    for await (const regKey of db.keys(prefixRange(Uint8Array.of(PREFIX.ATTEST_VALIDATOR)))) {
      const v = validatorOfKey(regKey)
      if (e.resolution === 'round') {
        // the network's round: each validator's one record at that height
        const ts = db.getSync(heightKey(v, e.bucket))
        if (ts == null) continue
        const timestamp = readU64(ts, 0)
        if (gone.has(goneId(v, timestamp, e.bucket))) continue
        const rec = db.getSync(recordKey(v, timestamp, e.bucket))
        if (rec != null) addScore(agg, decodeRecord(rec).score)
      } else {
        // the network's time bucket: the merge of the validators' buckets, as this batch leaves them
        const vk = rollupKey(e.resolution, v, e.bucket)
        const id = keyId(vk)
        let part: Agg | null | undefined = pending.get(id)
        if (part === undefined) {
          const stored = db.getSync(vk)
          part = stored == null ? null : decodeAgg(stored)
        }
        if (part != null && part.count > 0) mergeAgg(agg, part)
      }
    }
  }
  return agg.count === 0 ? null : agg
}
