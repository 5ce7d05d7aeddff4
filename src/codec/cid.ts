import { hash } from 'node:crypto'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { sha256 } from 'multiformats/hashes/sha2'
import { keccak256 } from './keccak.ts'
import { equals } from 'uint8arrays/equals'
import { InvalidCidError } from './errors.ts'
import { latin1 } from './flat.ts'

/** Multicodec of dag-cbor, the codec of every header, page and transaction. */
export const DAG_CBOR = dagCbor.code
/** Multicodec of raw bytes. */
export const RAW = 0x55
/** Multihash code of sha2-256, the only hash chainstore writes. */
export const SHA2_256 = sha256.code
/** Multihash code of keccak-256 (state trie nodes, as Ethereum addresses them). */
export const KECCAK_256 = 0x1b

/** Buffer's native latin1 encoder, called on any byte view (no Buffer object made for it). */
const latin1Write = (Buffer.prototype as unknown as { latin1Write: (this: Uint8Array, s: string, offset: number, length: number) => number }).latin1Write

/**
 * A CID as a map key: its bytes as a flat latin1 string (~0.1 µs). A CID
 * decoded from bytes (a peer's block, a requested CID) is a new object
 * whose `toString()` base32-encodes it again (~4.5 µs).
 */
export function cidKey (cid: CID): string {
  return latin1(cid.bytes)
}

/**
 * sha2-256 of `bytes` written into `out` at `offset` (32 bytes). node:crypto's
 * one-shot `hash` spends most of its time making the Buffer it returns (each
 * its own off-heap ArrayBuffer): for a 250-byte transaction 1.7 µs with
 * `'buffer'` output against 0.46 µs with `'binary'` (latin1), whose 32 one-byte
 * characters are the digest's bytes, at the cost of a short-lived string.
 * A string is hashed as its UTF-8 bytes.
 */
export function sha256Into (bytes: Uint8Array | string, out: Uint8Array, offset: number): void {
  latin1Write.call(out, hash('sha256', bytes, 'binary'), offset, 32)
}

/** True when `bytes` hash (sha2-256) to the 32 bytes of `digest`; allocates only the digest's string. */
export function sha256Matches (bytes: Uint8Array, digest: Uint8Array): boolean {
  if (digest.length !== 32) return false
  const s = hash('sha256', bytes, 'binary')
  for (let i = 0; i < 32; i++) if (s.charCodeAt(i) !== digest[i]) return false
  return true
}

/** sha2-256 digest computed synchronously (node:crypto), so hot paths avoid a promise per block. */
export function sha256Digest (bytes: Uint8Array): Digest.Digest<typeof SHA2_256, 32> {
  // the multihash (code, length, digest) in one off-heap buffer, which multiformats takes as it is
  const mh = new Uint8Array(new ArrayBuffer(34))
  mh[0] = SHA2_256
  mh[1] = 32
  sha256Into(bytes, mh, 2)
  return new Digest.Digest(SHA2_256, 32, mh.subarray(2), mh)
}

/** CIDv1 of bytes under a codec (dag-cbor by default); built in the shared buffer of single CIDs (see `cidFromDigest`). */
export function cidOf (bytes: Uint8Array, codec: number = DAG_CBOR): CID {
  if (codec >= 0x80) return CID.createV1(codec, sha256Digest(bytes))
  const at = poolSlot(codec)
  sha256Into(bytes, pool, at + 4)
  return cidOver(pool.subarray(at, at + CID_V1_BYTES), codec)
}

/** Bytes of a CIDv1 with a one-byte codec and a sha2-256 multihash. */
const CID_V1_BYTES = 36

/**
 * A dag-cbor CIDv1 rebuilt from a 32-byte sha2-256 digest (how indexes store
 * CIDs compactly). Single CIDs (a parsed id, one history entry, {@link cidOf}) are cut from
 * a shared off-heap buffer of {@link POOL_CIDS}: an ArrayBuffer of its own per
 * CID was most of the cost of building one (measured ~0.9-2.9 µs against
 * 0.3-0.7 µs on this machine).
 */
export function cidFromDigest (digest: Uint8Array, codec: number = DAG_CBOR): CID {
  if (digest.length !== 32 || codec >= 0x80) return CID.createV1(codec, Digest.create(SHA2_256, digest))
  const at = poolSlot(codec)
  pool.set(digest, at + 4)
  return cidOver(pool.subarray(at, at + CID_V1_BYTES), codec)
}

/**
 * CIDs per shared buffer of {@link cidFromDigest}. A CID kept alive keeps its
 * whole buffer (576 bytes here): small enough that a cache holding one CID
 * of each buffer holds about what per-CID ArrayBuffers (with their V8
 * objects) took before.
 */
const POOL_CIDS = 16
let pool = new Uint8Array(0)
let poolNext = POOL_CIDS

/** Offset in {@link pool} of the next single CID's 36 bytes, its prefix written (a new buffer when the last is used up). */
function poolSlot (codec: number): number {
  if (poolNext === POOL_CIDS) { pool = new Uint8Array(new ArrayBuffer(POOL_CIDS * CID_V1_BYTES)); poolNext = 0 }
  const at = poolNext++ * CID_V1_BYTES
  writePrefix(pool, at, codec)
  return at
}

/**
 * dag-cbor CIDv1s rebuilt from `count` 32-byte sha2-256 digests found in
 * `src` from `offset`, every `stride` bytes, in ONE off-heap allocation.
 * `Digest.create` + `CID.createV1` allocate two small arrays per CID, which
 * V8 keeps on its heap, and multiformats asks for each one's `.buffer`,
 * which makes V8 copy it off-heap: four allocations and two copies per CID.
 * Here each CID's bytes, multihash and digest are views of one ArrayBuffer,
 * which multiformats takes as they are.
 */
export function cidsFromDigests (src: Uint8Array, count: number, offset = 0, stride = 32, codec: number = DAG_CBOR): CID[] {
  const slab = cidSlab(count, codec)
  // a plain view: `src` is often a Buffer (LevelDB's values), whose subarray is a slow path
  const digests = new Uint8Array(src.buffer, src.byteOffset, src.length)
  for (let i = 0; i < count; i++) {
    const from = offset + i * stride
    slab.set(digests.subarray(from, from + 32), i * CID_V1_BYTES + 4)
  }
  return cidsIn(slab, count, codec)
}

/**
 * The CIDv1s (one-byte `codec`, dag-cbor by default) of byte strings,
 * sha2-256 hashed straight into one off-heap buffer of CIDs
 * ({@link cidsFromDigests} says why one buffer, {@link sha256Into} why no
 * Buffer per digest).
 */
export function cidsOfBytes (items: readonly Uint8Array[], codec: number = DAG_CBOR): CID[] {
  return cidsIn(cidBytesOf(items, codec), items.length, codec)
}

/**
 * The bytes of the CIDv1s of byte strings ({@link cidsOfBytes}) without
 * the CID objects: one buffer of 36 bytes per item, the sha2-256 digest
 * at offset 4 of each. {@link cidAt} builds one CID from it when asked.
 */
export function cidBytesOf (items: readonly Uint8Array[], codec: number = DAG_CBOR): Uint8Array {
  const slab = cidSlab(items.length, codec)
  for (let i = 0; i < items.length; i++) hashCidInto(items[i], slab, i)
  return slab
}

/** Hashes `bytes` (sha2-256) into the `i`-th CID of a {@link cidSlab}. */
export function hashCidInto (bytes: Uint8Array, slab: Uint8Array, i: number): void {
  sha256Into(bytes, slab, digestOffset(i))
}

/** The `i`-th CID of a buffer from {@link cidBytesOf} (a view of it, as {@link cidsOfBytes} makes them). */
export function cidAt (slab: Uint8Array, i: number, codec: number = DAG_CBOR): CID {
  return cidOver(slab.subarray(i * CID_V1_BYTES, (i + 1) * CID_V1_BYTES), codec)
}

/** Offset of the `i`-th CID's sha2-256 digest in a buffer from {@link cidBytesOf}. */
export function digestOffset (i: number): number {
  return i * CID_V1_BYTES + 4
}

/** `count` CIDv1 prefixes (version, codec, sha2-256, 32) in one off-heap buffer, their digests still to fill ({@link hashCidInto}). */
export function cidSlab (count: number, codec: number = DAG_CBOR): Uint8Array {
  const slab = new Uint8Array(new ArrayBuffer(count * CID_V1_BYTES))
  for (let at = 0; at < slab.length; at += CID_V1_BYTES) writePrefix(slab, at, codec)
  return slab
}

/** The 4 bytes before a CIDv1's sha2-256 digest: version 1, `codec`, sha2-256, 32. */
function writePrefix (slab: Uint8Array, at: number, codec: number): void {
  slab[at] = 1
  slab[at + 1] = codec
  slab[at + 2] = SHA2_256
  slab[at + 3] = 32
}

/** The CID whose 36 bytes are `bytes` (a view): its multihash and digest are views of them too. */
function cidOver (bytes: Uint8Array, codec: number): CID {
  const mh = bytes.subarray(2)
  return new CID(1, codec, new Digest.Digest(SHA2_256, 32, mh.subarray(2), mh), bytes)
}

/** The CIDs of a filled {@link cidSlab}: each one's bytes, multihash and digest are views of it. */
function cidsIn (slab: Uint8Array, count: number, codec: number): CID[] {
  const out = new Array<CID>(count)
  for (let i = 0; i < count; i++) out[i] = cidOver(slab.subarray(i * CID_V1_BYTES, (i + 1) * CID_V1_BYTES), codec)
  return out
}

/** Multihash code of identity (the "digest" is the bytes themselves). */
export const IDENTITY = 0x00

/** True when chainstore can hash bytes under this multihash function, so {@link bytesMatchCid} can say yes. */
export function isVerifiableHash (code: number): boolean {
  return code === SHA2_256 || code === KECCAK_256
}

/** True when `bytes` hash to `cid` under the CID's own hash function (sha2-256 only). */
export function bytesMatchCid (cid: CID, bytes: Uint8Array): boolean {
  if (cid.multihash.code === SHA2_256) return sha256Matches(bytes, cid.multihash.digest)
  // state trie nodes (src/state) are addressed by keccak-256, as Ethereum's are
  if (cid.multihash.code === KECCAK_256) return equals(keccak256(bytes), cid.multihash.digest)
  return false
}

/** Parses a CID given as a CID object or string; throws InvalidCidError naming the input. */
export function parseCid (input: unknown, what = 'cid'): CID {
  if (input instanceof CID) return input
  const asCid = CID.asCID(input)
  if (asCid != null) return asCid
  if (typeof input !== 'string' || input.length === 0 || input.length > 200) {
    throw new InvalidCidError(`${what}: expected a CID or CID string, got ${describe(input)}`)
  }
  try {
    return parseBase32V1(input) ?? CID.parse(input)
  } catch (err) {
    throw new InvalidCidError(`${what}: "${input.slice(0, 80)}" is not a valid CID`, { cause: err })
  }
}

/** Value of each base32 (RFC 4648, lowercase) character, -1 for any other. */
const BASE32 = new Int8Array(128).fill(-1)
for (let i = 0; i < 32; i++) BASE32['abcdefghijklmnopqrstuvwxyz234567'.charCodeAt(i)] = i

/** Characters of a base32 CIDv1 of 36 bytes: the multibase prefix 'b' and ceil(288 / 5). */
const BASE32_V1_CHARS = 59

/**
 * The common case of {@link parseCid}, ~5× faster than `CID.parse` (0.8-1.4
 * µs against 4.0-4.5 on this machine, most of it the one allocation): a
 * base32 CIDv1 with a one-byte codec and a sha2-256 multihash (every id
 * chainstore hands out), decoded by hand and built as
 * {@link cidsFromDigests} builds CIDs, in one off-heap allocation. (Copies by `slice()` instead of views
 * measured slower, 2.6 µs: a typed array's slice is a slow path in V8.) Anything else (other bases, codecs,
 * hashes, a malformed string) returns undefined and goes to `CID.parse`,
 * which also gives the error.
 */
function parseBase32V1 (s: string): CID | undefined {
  if (s.length !== BASE32_V1_CHARS || s.charCodeAt(0) !== 98) return undefined
  const bytes = scratch
  let buffer = 0
  let bits = 0
  let at = 0
  for (let i = 1; i < BASE32_V1_CHARS; i++) {
    const c = s.charCodeAt(i)
    const v = c < 128 ? BASE32[c] : -1
    if (v < 0) return undefined
    buffer = ((buffer << 5) | v) & 0xffff
    bits += 5
    if (bits >= 8) {
      bits -= 8
      bytes[at++] = buffer >> bits
    }
  }
  // the 2 bits left over must be zero, as multiformats' decoder requires
  if ((buffer & ((1 << bits) - 1)) !== 0) return undefined
  const codec = bytes[1]
  if (bytes[0] !== 1 || codec >= 0x80 || bytes[2] !== SHA2_256 || bytes[3] !== 32) return undefined
  return cidFromDigest(scratchDigest, codec)
}

/** Where {@link parseBase32V1} decodes (the CID it returns is built from a copy). */
const scratch = new Uint8Array(CID_V1_BYTES)
const scratchDigest = scratch.subarray(4)

/** Short description of a value for error messages (never the whole value). */
export function describe (value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (value instanceof Uint8Array) return `${value.length} bytes`
  if (typeof value === 'string') return `"${value.slice(0, 40)}"`
  if (typeof value === 'object') return 'an object'
  return `${typeof value} ${String(value)}`
}
