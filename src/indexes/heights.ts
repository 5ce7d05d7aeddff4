import { CID } from 'multiformats/cid'
import { equals } from 'uint8arrays/equals'
import { cidsFromDigests } from '../codec/cid.ts'
import { PREFIX, blockTxIdsKey, digestKey, heightKey, readU64 } from '../storage/keys.ts'
import type { RootDb } from '../storage/level.ts'
import type { AbortOptions } from '../storage/types.ts'
import { decodeBlockRecord, decodeTxRecord, openRecord, type TxRecord } from './records.ts'
import type { IndexSource } from './types.ts'

/** An {@link IndexSource} over a live database. */
export function liveSource (db: RootDb): IndexSource {
  return { get: key => db.getSync(key) ?? undefined, iterator: range => db.iterator(range) }
}

/**
 * The canonical height index (height → header CID): the only reader of its
 * keys. Entries are written by the index stage ({@link indexBlock}).
 */
export class HeightIndex {
  readonly #src: IndexSource
  /** Over a live database, or over any {@link IndexSource} (a snapshot view). */
  constructor (db: RootDb | IndexSource) { this.#src = 'getSync' in db ? liveSource(db) : db }

  /** The header CID at a canonical height, or undefined. */
  at (height: number): CID | undefined {
    const bytes = this.#src.get(heightKey(height))
    return bytes == null ? undefined : CID.decode(bytes)
  }

  /** True when `cid` is the canonical block at `height`. */
  isCanonical (cid: CID, height: number): boolean {
    const at = this.#src.get(heightKey(height))
    return at != null && equals(at, cid.bytes)
  }

  /** Canonical header CIDs from `from` to `to` inclusive, in order. */
  async * range (from: number, to: number, options: AbortOptions = {}): AsyncGenerator<CID> {
    for await (const [, cid] of this.entries(from, to, options)) yield cid
  }

  /** Canonical heights and their header CIDs from `from` to `to` inclusive, in order. */
  async * entries (from: number, to: number, options: AbortOptions = {}): AsyncGenerator<[number, CID]> {
    for await (const [key, value] of this.#src.iterator({ gte: heightKey(from), lte: heightKey(to) })) {
      options.signal?.throwIfAborted()
      yield [readU64(key, 1), CID.decode(value)]
    }
  }

  /** Transaction ids of the canonical block at `height`, in block order (undefined when none). */
  txIds (height: number, count: number): CID[] | undefined {
    const sealed = this.#src.get(blockTxIdsKey(height))
    if (sealed == null) return undefined
    const ids = openRecord(sealed, `transaction id list of height ${height}`)
    if (ids.length < count * 32) return undefined
    return cidsFromDigests(ids, count)
  }
}

/** Block records (header CID → height, tx count) of every stored block, canonical or not. */
export class BlockRecords {
  readonly #db: RootDb
  constructor (db: RootDb) { this.#db = db }

  /** Height of a stored block header, or undefined. */
  heightOf (cid: CID): number | undefined {
    const rec = this.#db.getSync(digestKey(PREFIX.BLOCK, cid.multihash.digest))
    return rec == null ? undefined : decodeBlockRecord(rec).height
  }
}

/** Covering transaction records (tx id → location and bytes) of the canonical chain. */
export class TxRecords {
  readonly #db: RootDb
  /** One key reused by every lookup: `getSync` copies it before it returns (an allocation per read showed in read profiles). */
  readonly #key = new Uint8Array(33)
  constructor (db: RootDb) {
    this.#db = db
    this.#key[0] = PREFIX.TX
  }

  /** The record of a canonical transaction, or undefined. */
  get (id: CID): TxRecord | undefined {
    const digest = id.multihash.digest
    const bytes = digest.length === 32
      ? (this.#key.set(digest, 1), this.#db.getSync(this.#key))
      : this.#db.getSync(digestKey(PREFIX.TX, digest))
    return bytes == null ? undefined : decodeTxRecord(bytes)
  }
}
