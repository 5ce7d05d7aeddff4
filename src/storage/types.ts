import type { CID } from 'multiformats/cid'

/** The writes of one atomic LevelDB batch: index entries in the root keyspace, IPLD blocks in the blockstore. */
export interface WriteBatch {
  /** Puts a root-keyspace entry (index, meta, pin). */
  put: (key: Uint8Array, value: Uint8Array) => void
  /** Deletes a root-keyspace entry. */
  del: (key: Uint8Array) => void
  /** Puts an IPLD block where Helia's blockstore finds it. */
  putBlock: (cid: CID, bytes: Uint8Array) => void
  /** Runs `fn` once the batch is written (the store's batches; what keeps state in memory until then needs it). */
  afterWrite?: (fn: () => void) => void
}

/** Options every async method takes last. */
export interface AbortOptions {
  signal?: AbortSignal
}

/** Options of a block read. */
export interface BlockGetOptions extends AbortOptions {
  /** How long a network tier may wait for the block. */
  timeoutMs?: number
}

/**
 * A tier that can produce a block's bytes by CID: local LevelDB, the fetch
 * cache, connected peers, trustless gateways. Bytes a tier returns are
 * verified against the CID; a block the tier cannot produce is a
 * `BlockNotFoundError`; an abort rejects with the signal's reason.
 */
export interface BlockSource {
  has: (cid: CID, options?: BlockGetOptions) => Promise<boolean>
  get: (cid: CID, options?: BlockGetOptions) => Promise<Uint8Array>
}


/** A lock that runs async work one at a time, in call order. */
export interface SerialLock {
  run: <T>(fn: () => Promise<T>) => Promise<T>
}
