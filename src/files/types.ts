/** Options of `putBytes`. */
export interface PutBytesOptions {
  /** `raw` (default) or `dag-cbor`; dag-cbor bytes must decode. */
  codec?: 'raw' | 'dag-cbor'
  /** Record a pin so the bytes are kept (default true). */
  pin?: boolean
  signal?: AbortSignal
}

/** IPIP-499 profiles: `unixfs-v0-2015` is Kubo's default `ipfs add`, `unixfs-v1-2025` the default here. */
export type FileProfile = 'unixfs-v0-2015' | 'unixfs-v1-2025'

/** How leaves are gathered into a tree: balanced (Kubo's default) or trickle (`ipfs add --trickle`). */
export type FileLayoutName = 'balanced' | 'trickle'

/**
 * Options of `addFile`. A profile sets every import setting; each explicit
 * setting overrides its profile's. Unknown keys and out-of-range values throw
 * `InvalidFileOptionsError`.
 */
export interface AddFileOptions {
  /** Settings to start from (default `unixfs-v1-2025`). */
  profile?: FileProfile
  /** 0 (dag-pb, base58 `Qm…`) or 1. */
  cidVersion?: 0 | 1
  /** Leaves as raw blocks (true) or dag-pb `file` nodes (false). */
  rawLeaves?: boolean
  /** Bytes per leaf: an integer from 1 to 1 MiB (and at most the store's `limits.maxBlockBytes`). */
  chunkSize?: number
  /** Links per inner node: an integer from 2 to 16384. */
  maxChildrenPerNode?: number
  /** Tree shape (default balanced). */
  layout?: FileLayoutName
  signal?: AbortSignal
}

/** Options of `cat`. */
export interface CatOptions {
  signal?: AbortSignal
  /** Byte offset to start at. */
  offset?: number
  /** Bytes to read. */
  length?: number
}
