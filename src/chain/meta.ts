import { CID } from 'multiformats/cid'
import { META_FINALIZED, META_HEAD, readU64, writeU64 } from '../storage/keys.ts'
import type { RootDb } from '../storage/level.ts'
import type { WriteBatch } from '../storage/types.ts'
import type { Head } from './types.ts'

/** Records the head in the same batch. */
export function setHeadInBatch (batch: WriteBatch, head: Head): void {
  const out = new Uint8Array(8 + head.cid.bytes.length)
  writeU64(out, 0, head.height)
  out.set(head.cid.bytes, 8)
  batch.put(META_HEAD, out)
}

/** The head recorded by {@link setHeadInBatch}, or null for an empty store. */
export function readHead (db: RootDb): Head | null {
  return decodeHead(db.getSync(META_HEAD) ?? undefined)
}

/** Decodes a head value written by {@link setHeadInBatch} (backups read it from a snapshot). */
export function decodeHead (bytes: Uint8Array | undefined): Head | null {
  return bytes == null ? null : { height: readU64(bytes, 0), cid: CID.decode(bytes.subarray(8)) }
}

/** The finalized height recorded by {@link writeFinalizedInBatch}, or -1. */
export function readFinalized (db: RootDb): number {
  return decodeFinalized(db.getSync(META_FINALIZED) ?? undefined)
}

/** Decodes a finalized-height value written by {@link writeFinalizedInBatch}, or -1. */
export function decodeFinalized (bytes: Uint8Array | undefined): number {
  return bytes == null ? -1 : readU64(bytes, 0) - 1
}

/** Records the finalized height (stored +1 so that -1, none, fits an unsigned field). */
export function writeFinalizedInBatch (batch: WriteBatch, height: number): void {
  const out = new Uint8Array(8)
  writeU64(out, 0, height + 1)
  batch.put(META_FINALIZED, out)
}

/**
 * The chain's head and finalized height, in memory and in the meta keys.
 * Writers change them only after their batch is written; `reload` re-reads
 * both after maintenance rewrote the database.
 */
export class ChainMeta {
  #head: Head | null
  #finalized: number
  readonly #db: RootDb

  constructor (db: RootDb) {
    this.#db = db
    this.#head = readHead(db)
    this.#finalized = readFinalized(db)
  }

  /** The latest canonical block, or null for an empty store. */
  head (): Head | null { return this.#head }
  /** Highest finalized canonical height (-1: none). */
  finalized (): number { return this.#finalized }
  /** Adopts a head a written batch recorded. */
  setHead (head: Head | null): void { this.#head = head }
  /** Adopts a finalized height a written batch recorded. */
  setFinalized (height: number): void { this.#finalized = height }
  /** Re-reads both from the database. */
  reload (): void {
    this.#head = readHead(this.#db)
    this.#finalized = readFinalized(this.#db)
  }
}
