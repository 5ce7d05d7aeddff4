import type { CID } from 'multiformats/cid'

/** The writes of one atomic LevelDB batch: index entries in the root keyspace, IPLD blocks in the blockstore. */
export interface WriteBatch {
  /** Puts a root-keyspace entry (index, meta, pin). */
  put: (key: Uint8Array, value: Uint8Array) => void
  /** Deletes a root-keyspace entry. */
  del: (key: Uint8Array) => void
  /** Puts an IPLD block where Helia's blockstore finds it. */
  putBlock: (cid: CID, bytes: Uint8Array) => void
}

/** Options every async method takes last. */
export interface AbortOptions {
  signal?: AbortSignal
}
