/** Options of `putBytes`. */
export interface PutBytesOptions {
  /** `raw` (default) or `dag-cbor`; dag-cbor bytes must decode. */
  codec?: 'raw' | 'dag-cbor'
  /** Record a pin so the bytes are kept (default true). */
  pin?: boolean
  signal?: AbortSignal
}

/** Options of `addFile`. */
export interface AddFileOptions {
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
