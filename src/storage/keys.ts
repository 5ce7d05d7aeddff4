import { base32upper } from 'multiformats/bases/base32'
import type { CID } from 'multiformats/cid'

/**
 * Key layout of the root LevelDB keyspace. Each index owns a one-byte prefix
 * below 0x21 ('!'), so none can collide with abstract-level sublevels (which
 * prefix with '!name!'): the blockstore and the kv namespaces live in sublevels.
 * Fixed-width big-endian numbers keep keys ordered by height.
 */
export const PREFIX = {
  META: 0x01,
  HEIGHT: 0x02,
  BLOCK: 0x03,
  BLOCK_TXIDS: 0x04,
  TX: 0x05,
  /** Schema 2 only (one key per address per transaction); migration 3 rewrites them as ADDRESS_POSTINGS. */
  ADDRESS: 0x06,
  /** Schema 2 only (one key per log); migration 3 rewrites them as LOG_BLOCK. */
  LOG: 0x07,
  /** Schema 2 only (one key per log); migration 3 rewrites them as LOG_ADDRESS_POSTINGS. */
  LOG_ADDRESS: 0x08,
  /** Schema 2 only (one key per topic per log); migration 3 rewrites them as LOG_TOPIC_POSTINGS. */
  LOG_TOPIC: 0x09,
  PIN: 0x0a,
  /** Fetched-block cache tier: blocks read from peers or gateways, held unpinned under an LRU byte budget. */
  FETCHED: 0x0b,
  /** Pins waiting on the network (queued or pinning), resumed at open. */
  PIN_QUEUE: 0x0c,
  /** Schema 3-5: address history per block, (address, height) → the block's transactions that address sent or received; migration 6 rewrites them as ADDRESS_WINDOW. */
  ADDRESS_POSTINGS: 0x0d,
  /** Logs of a canonical block: height → every log of the block, with an offset table. */
  LOG_BLOCK: 0x0e,
  /** Schema 3-5: logs by emitting address per block, (address, height) → ordinals of the block's logs; migration 6 rewrites them as LOG_ADDRESS_WINDOW. */
  LOG_ADDRESS_POSTINGS: 0x0f,
  /** Schema 3-5: logs by topic per block, (slot, topic, height) → ordinals of the block's logs; migration 6 rewrites them as LOG_TOPIC_WINDOW. */
  LOG_TOPIC_POSTINGS: 0x20,
  /** State (src/state): roots per height, flat current-state layer, and its own metadata; 0x10-0x12. */
  STATE_ROOT: 0x10,
  STATE_FLAT: 0x11,
  STATE_META: 0x12,
  /**
   * Schema 6 postings, one key per key and window of {@link POSTINGS_WINDOW}
   * heights (src/indexes/windows.ts): (address, window start) → the
   * window's address postings; (log address, window start) and (slot,
   * topic, window start) → its log postings. They replace the per-block
   * ADDRESS_POSTINGS, LOG_ADDRESS_POSTINGS and LOG_TOPIC_POSTINGS (schema 3-5).
   */
  ADDRESS_WINDOW: 0x13,
  LOG_ADDRESS_WINDOW: 0x14,
  LOG_TOPIC_WINDOW: 0x15,
  /**
   * The head's postings window as a clean close saved it for the next open
   * (one key, the prefix alone; deleted at open). Beside the windows, not
   * under META: the close's batch then spans only the window prefixes, and
   * LevelDB's compaction of the log it leaves reads no other tables.
   */
  POSTINGS_SAVED: 0x16,
  /** Attestations (src/attestations): 0x18-0x1f. Records by validator, time and height. */
  ATTEST: 0x18,
  /** Attestations by validator and height (→ timestamp). */
  ATTEST_HEIGHT: 0x19,
  /** Pre-aggregated score rollups by resolution, scope and bucket. */
  ATTEST_ROLLUP: 0x1a,
  /** Attestations by time across validators (retention sweeps). */
  ATTEST_TIME: 0x1b,
  /** Keystore: data keys wrapped under the node master key. */
  ATTEST_KEYS: 0x1c,
  /** Erasure records by validator. */
  ATTEST_ERASED: 0x1d,
  /** Validators that have attestations stored (→ count). */
  ATTEST_VALIDATOR: 0x1e,
  /** Attestation metadata (sweep watermarks). */
  ATTEST_META: 0x1f
} as const

/**
 * Heights per postings window (schema 6): the canonical chain's postings
 * are grouped into one LevelDB key per key and window; the newest window
 * is held in memory and written when the head leaves it.
 */
export const POSTINGS_WINDOW = 256

/** Name of the sublevel that holds IPLD blocks in blockstore-level's key format. */
export const BLOCKS_SUBLEVEL = 'blocks'
/** Name of the sublevel that holds Helia's datastore. */
export const HELIA_SUBLEVEL = 'helia'
/** Name of the sublevel whose children are the `kv(namespace)` stores. */
export const KV_SUBLEVEL = 'kv'

/** Meta keys. */
export const META_HEAD = metaKey('head')
export const META_SCHEMA = metaKey('schema')
/** Highest finalized height on the canonical chain. */
export const META_FINALIZED = metaKey('finalized')

/** A `META` key by name. */
export function metaKey (name: string): Uint8Array {
  return prefixedKey(PREFIX.META, new TextEncoder().encode(name))
}

/** Key of a block in the blocks sublevel: exactly what blockstore-level writes, so Helia reads it. */
export function blockKey (cid: CID): string {
  return '/' + base32upper.encoder.encode(cid.multihash.bytes)
}

/** Writes a height as 8 big-endian bytes at `offset`. */
export function writeU64 (out: Uint8Array, offset: number, n: number): void {
  const hi = Math.floor(n / 0x1_0000_0000)
  const lo = n >>> 0
  writeU32(out, offset, hi)
  writeU32(out, offset + 4, lo)
}

/** Reads 8 big-endian bytes as a number (heights stay below 2^53). */
export function readU64 (b: Uint8Array, offset: number): number {
  return readU32(b, offset) * 0x1_0000_0000 + readU32(b, offset + 4)
}

export function writeU32 (out: Uint8Array, offset: number, n: number): void {
  out[offset] = n >>> 24
  out[offset + 1] = (n >>> 16) & 0xff
  out[offset + 2] = (n >>> 8) & 0xff
  out[offset + 3] = n & 0xff
}

export function readU32 (b: Uint8Array, offset: number): number {
  return ((b[offset] << 24) >>> 0) + (b[offset + 1] << 16) + (b[offset + 2] << 8) + b[offset + 3]
}

export function writeU16 (out: Uint8Array, offset: number, n: number): void {
  out[offset] = (n >>> 8) & 0xff
  out[offset + 1] = n & 0xff
}

export function readU16 (b: Uint8Array, offset: number): number {
  return (b[offset] << 8) + b[offset + 1]
}

/** Concatenates byte arrays. */
export function concat (parts: Uint8Array[]): Uint8Array {
  let size = 0
  for (const p of parts) size += p.length
  const out = new Uint8Array(size)
  let o = 0
  for (const p of parts) { out.set(p, o); o += p.length }
  return out
}

/** A key of a one-byte prefix and a number (a height, a time) as 8 big-endian bytes, so keys sort by it. */
export function u64Key (prefix: number, n: number): Uint8Array {
  const k = new Uint8Array(9)
  k[0] = prefix
  writeU64(k, 1, n)
  return k
}

/** A key of a one-byte prefix followed by bytes (a digest, a CID, a name). */
export function prefixedKey (prefix: number, bytes: Uint8Array): Uint8Array {
  const k = new Uint8Array(1 + bytes.length)
  k[0] = prefix
  k.set(bytes, 1)
  return k
}

/** `HEIGHT` key of a height. */
export function heightKey (height: number): Uint8Array {
  return u64Key(PREFIX.HEIGHT, height)
}

/** `BLOCK_TXIDS` key of a height. */
export function blockTxIdsKey (height: number): Uint8Array {
  return u64Key(PREFIX.BLOCK_TXIDS, height)
}

/** Key made of a prefix and a 32-byte digest (block and transaction records). */
export const digestKey = prefixedKey

/** Iterator bounds that cover exactly the keys starting with `prefix`. */
export function prefixRange (prefix: Uint8Array): { gte: Uint8Array, lt: Uint8Array } {
  return { gte: prefix, lt: increment(prefix) as Uint8Array }
}

/** The smallest byte string greater than every string that starts with `b`. */
export function increment (b: Uint8Array): Uint8Array | undefined {
  const out = Uint8Array.from(b)
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i] < 0xff) { out[i]++; return out.subarray(0, i + 1) }
  }
  return undefined
}
