import { bigintAt, hexAt } from './hex.ts'
import type { Transaction } from './types.ts'
import type { StoredLog, StoredReceipt, StoredTx } from './validate.ts'

/**
 * Encoders for the two fixed shapes on the ingest hot path (transactions and
 * receipts) that write the exact bytes @ipld/dag-cbor writes (canonical key
 * order: shorter keys first, then bytewise) at a fraction of the cost of the
 * generic encoder. test/codec.test.ts checks byte equality against
 * `dagCbor.encode` on generated values; anything else goes through dag-cbor.
 */
export class Writer {
  buf: Uint8Array
  pos = 0
  /** A Buffer over `buf` for Node's hex decoder, made when first needed. */
  #hexView: Buffer | null = null
  constructor (size: number) { this.buf = new Uint8Array(size) }

  ensure (n: number): void {
    if (this.pos + n <= this.buf.length) return
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n))
    next.set(this.buf.subarray(0, this.pos))
    this.buf = next
    this.#hexView = null
  }

  /**
   * A byte string of the `n` bytes whose hex digits are `hex` from
   * character `from` (2: after a 0x prefix; the length is the caller's to
   * check), decoded straight into the buffer: the offset of its bytes in
   * `buf`, or -1 when a digit is not hex (what was written is then garbage
   * the caller rewinds).
   */
  hexBytes (hex: string, n: number, from = 2): number {
    this.head(2, n)
    this.ensure(n)
    this.#hexView ??= Buffer.from(this.buf.buffer, this.buf.byteOffset, this.buf.length)
    // Node's decoder stops at the first pair that is not hex
    const at = this.pos
    const written = this.#hexView.write(from === 0 ? hex : hex.substring(from), at, n, 'hex')
    this.pos += n
    return written === n ? at : -1
  }

  head (major: number, n: number): void {
    this.ensure(9)
    const b = this.buf
    const m = major << 5
    if (n < 24) b[this.pos++] = m | n
    else if (n < 0x100) { b[this.pos++] = m | 24; b[this.pos++] = n }
    else if (n < 0x10000) { b[this.pos++] = m | 25; b[this.pos++] = n >> 8; b[this.pos++] = n & 0xff }
    else if (n < 0x1_0000_0000) {
      b[this.pos++] = m | 26
      b[this.pos++] = n >>> 24; b[this.pos++] = (n >>> 16) & 0xff; b[this.pos++] = (n >>> 8) & 0xff; b[this.pos++] = n & 0xff
    } else {
      b[this.pos++] = m | 27
      const hi = Math.floor(n / 0x1_0000_0000)
      const lo = n >>> 0
      b[this.pos++] = hi >>> 24; b[this.pos++] = (hi >>> 16) & 0xff; b[this.pos++] = (hi >>> 8) & 0xff; b[this.pos++] = hi & 0xff
      b[this.pos++] = lo >>> 24; b[this.pos++] = (lo >>> 16) & 0xff; b[this.pos++] = (lo >>> 8) & 0xff; b[this.pos++] = lo & 0xff
    }
  }

  /** A pre-encoded ASCII text key. */
  raw (bytes: Uint8Array): void {
    this.ensure(bytes.length)
    this.buf.set(bytes, this.pos)
    this.pos += bytes.length
  }

  bytes (v: Uint8Array): void {
    this.head(2, v.length)
    this.raw(v)
  }

  uint (n: number): void { this.head(0, n) }
}

function key (s: string): Uint8Array {
  return Uint8Array.from([0x60 + s.length, ...Buffer.from(s, 'ascii')])
}

/** The pre-encoded text keys of the transaction, receipt and log maps. */
export const MAP_KEYS = {
  to: key('to'), gas: key('gas'), sig: key('sig'), data: key('data'), from: key('from'),
  nonce: key('nonce'), value: key('value'), gasPrice: key('gasPrice'),
  logs: key('logs'), status: key('status'), gasUsed: key('gasUsed'), topics: key('topics'), address: key('address')
}
const K = MAP_KEYS
/** CBOR's null. */
export const NULL = 0xf6

/**
 * dag-cbor bytes of a stored transaction. With a shared `into` writer (one per
 * block) the result is a view into its buffer: one allocation per block instead
 * of one per transaction, the largest cost on the ingest path after hashing.
 */
export function encodeTx (tx: StoredTx, into?: Writer): Uint8Array {
  const w = into ?? new Writer(96 + tx.data.length + tx.sig.length + tx.value.length + tx.gasPrice.length)
  const start = w.pos
  w.head(5, 8)
  w.raw(K.to)
  if (tx.to === null) { w.ensure(1); w.buf[w.pos++] = NULL } else w.bytes(tx.to)
  w.raw(K.gas); w.uint(tx.gas)
  w.raw(K.sig); w.bytes(tx.sig)
  w.raw(K.data); w.bytes(tx.data)
  w.raw(K.from); w.bytes(tx.from)
  w.raw(K.nonce); w.uint(tx.nonce)
  w.raw(K.value); w.bytes(tx.value)
  w.raw(K.gasPrice); w.bytes(tx.gasPrice)
  return w.buf.subarray(start, w.pos)
}

function writeLog (w: Writer, log: StoredLog): void {
  w.head(5, 3)
  w.raw(K.data); w.bytes(log.data)
  w.raw(K.topics); w.head(4, log.topics.length)
  for (let t = 0; t < log.topics.length; t++) w.bytes(log.topics[t])
  w.raw(K.address); w.bytes(log.address)
}

/**
 * dag-cbor bytes of a log index record: `[txDigest, log]`. With a shared
 * `into` writer (one per block) the result is a view into its buffer.
 */
export function encodeLogEntry (txDigest: Uint8Array, log: StoredLog, into?: Writer): Uint8Array {
  const w = into ?? new Writer(64 + log.data.length + log.topics.length * 34)
  const start = w.pos
  w.head(4, 2)
  w.bytes(txDigest)
  writeLog(w, log)
  return w.buf.subarray(start, w.pos)
}

/** dag-cbor bytes of a stored receipt. */
export function encodeReceipt (r: StoredReceipt, into?: Writer): Uint8Array {
  const w = into ?? new Writer(32 + r.logs.length * 200)
  const start = w.pos
  w.head(5, 3)
  w.raw(K.logs); w.head(4, r.logs.length)
  for (const log of r.logs) writeLog(w, log)
  w.raw(K.status); w.uint(r.status)
  w.raw(K.gasUsed); w.uint(r.gasUsed)
  return w.buf.subarray(start, w.pos)
}

/**
 * Reads the transactions of a page written by `cborArray(encodeTx(...))`,
 * checking every header byte and key on the way; returns `undefined` at the
 * first byte that differs from that layout, and the caller falls back to the
 * generic dag-cbor decoder. Byte fields are views into `page`.
 */
export function decodeTxPageFast (page: Uint8Array): StoredTx[] | undefined {
  return readPage(page, readTx)
}

/** One transaction's own bytes in the layout `encodeTx` writes, or `undefined` (the caller falls back to dag-cbor). */
export function decodeTxFast (bytes: Uint8Array): StoredTx | undefined {
  return readWhole(bytes, readTx)
}

/** A page's items, each read by `read`, or `undefined` at the first byte outside the layout. */
function readPage<T> (page: Uint8Array, read: (r: Reader) => T | undefined): T[] | undefined {
  const r = new Reader(page)
  const n = r.head(4)
  // every transaction takes more than a byte: a larger count is not this layout (and must not size an array)
  if (n < 0 || n > page.length) return undefined
  const out: T[] = new Array(n)
  for (let i = 0; i < n; i++) {
    const item = read(r)
    if (item == null) return undefined
    out[i] = item
  }
  return r.pos === page.length ? out : undefined
}

/**
 * Reads the receipts of a page written by `cborArray(encodeReceipt(...))`,
 * like {@link decodeTxPageFast}: `undefined` at the first byte outside that
 * layout (the caller decodes generically); byte fields are views into `page`,
 * keys in dag-cbor's order.
 */
export function decodeReceiptPageFast (page: Uint8Array): StoredReceipt[] | undefined {
  return readPage(page, readReceipt)
}

function readReceipt (r: Reader): StoredReceipt | undefined {
  if (r.head(5) !== 3 || !r.key(K.logs)) return undefined
  const n = r.head(4)
  // every log takes more than a byte
  if (n < 0 || n > r.buf.length - r.pos) return undefined
  const logs: StoredLog[] = new Array(n)
  for (let i = 0; i < n; i++) {
    const log = readLog(r)
    if (log == null) return undefined
    logs[i] = log
  }
  if (!r.key(K.status)) return undefined
  // a status other than 0 or 1 goes to the generic path, which names it
  const status = r.head(0)
  if ((status !== 0 && status !== 1) || !r.key(K.gasUsed)) return undefined
  const gasUsed = r.head(0)
  if (gasUsed < 0) return undefined
  return { logs, status, gasUsed }
}

function readLog (r: Reader): StoredLog | undefined {
  if (r.head(5) !== 3 || !r.key(K.data)) return undefined
  const data = r.bytes()
  if (data == null || !r.key(K.topics)) return undefined
  const n = r.head(4)
  if (n < 0 || n > r.buf.length - r.pos) return undefined
  const topics: Uint8Array[] = new Array(n)
  for (let i = 0; i < n; i++) {
    const t = r.bytes()
    if (t == null) return undefined
    topics[i] = t
  }
  if (!r.key(K.address)) return undefined
  const address = r.bytes()
  if (address == null) return undefined
  return { data, topics, address }
}

/** One item read by `read` that spans all of `bytes`, or `undefined`. */
function readWhole<T> (bytes: Uint8Array, read: (r: Reader) => T | undefined): T | undefined {
  const r = new Reader(bytes)
  const item = read(r)
  return item != null && r.pos === bytes.length ? item : undefined
}

function readTx (r: Reader): StoredTx | undefined {
  if (r.head(5) !== 8 || !r.key(K.to)) return undefined
  let to: Uint8Array | null = null
  if (r.buf[r.pos] === NULL) r.pos++
  else {
    const t = r.bytes()
    if (t == null) return undefined
    to = t
  }
  if (!r.key(K.gas)) return undefined
  const gas = r.head(0)
  if (!r.key(K.sig)) return undefined
  const sig = r.bytes()
  if (sig == null || !r.key(K.data)) return undefined
  const data = r.bytes()
  if (data == null || !r.key(K.from)) return undefined
  const from = r.bytes()
  if (from == null || !r.key(K.nonce)) return undefined
  const nonce = r.head(0)
  if (!r.key(K.value)) return undefined
  const value = r.bytes()
  if (value == null || !r.key(K.gasPrice)) return undefined
  const gasPrice = r.bytes()
  if (gasPrice == null || gas < 0 || nonce < 0) return undefined
  return { to, gas, sig, data, from, nonce, value, gasPrice }
}

/**
 * The transactions of a page in the API shape, read straight from the page
 * in the layout `decodeTxPageFast` accepts: addresses become hex and
 * quantities BigInts from the page's bytes, with no stored value and no
 * view per field in between (only `data` and `signature` are views into
 * `page`). Returns `undefined` where `decodeTxPageFast` would, and also for
 * an address that is not 20 bytes; the caller then decodes generically,
 * which names the fault.
 */
export function decodeTxPageToApi (page: Uint8Array): Transaction[] | undefined {
  return readPage(page, readTxToApi)
}

/** One transaction's own bytes in the API shape (see {@link decodeTxPageToApi}), or `undefined`. */
export function decodeTxToApi (bytes: Uint8Array): Transaction | undefined {
  return readWhole(bytes, readTxToApi)
}

/** Bytes of an address. */
const ADDRESS = 20

function readTxToApi (r: Reader): Transaction | undefined {
  if (r.head(5) !== 8 || !r.key(K.to)) return undefined
  const b = r.buf
  let to: string | null = null
  if (b[r.pos] === NULL) r.pos++
  else {
    const at = r.span()
    if (at < 0 || r.len !== ADDRESS) return undefined
    to = hexAt(b, at, ADDRESS)
  }
  if (!r.key(K.gas)) return undefined
  const gas = r.head(0)
  if (!r.key(K.sig)) return undefined
  const sig = r.bytes()
  if (sig == null || !r.key(K.data)) return undefined
  const data = r.bytes()
  if (data == null || !r.key(K.from)) return undefined
  const fromAt = r.span()
  if (fromAt < 0 || r.len !== ADDRESS || !r.key(K.nonce)) return undefined
  const nonce = r.head(0)
  if (!r.key(K.value)) return undefined
  const valueAt = r.span()
  const valueLen = r.len
  if (valueAt < 0 || !r.key(K.gasPrice)) return undefined
  const priceAt = r.span()
  if (priceAt < 0 || gas < 0 || nonce < 0) return undefined
  return new DecodedTransaction(hexAt(b, fromAt, ADDRESS), to, nonce, bigintAt(b, valueAt, valueLen), gas, bigintAt(b, priceAt, r.len), data, sig)
}

/**
 * A decoded transaction: a plain record of the {@link Transaction} fields
 * (own, enumerable, in this order; no methods), built by a constructor
 * rather than an object literal. V8 tracks an allocation site for every
 * object literal and, once most objects from one survive young GCs, makes
 * that site allocate straight into the old generation. A memory tier or an
 * application holding decoded blocks does exactly that to the literal of
 * the decoder, and from then on every uncached read's 100 transactions per
 * block (and the strings and BigInts they point to) are old-generation
 * garbage: measured, uncached `getBlockSync` fell from ~7,500 to ~4,400
 * reads/s and its p99 rose from ~0.35 to 1.0-1.4 ms (scripts/reads-latency.ts,
 * docs/PITFALLS.md). Constructor calls carry no allocation site.
 */
// the fields are Transaction's (declaration merging), assigned in its order in the constructor
export interface DecodedTransaction extends Transaction {}
export class DecodedTransaction {
  constructor (from: string, to: string | null, nonce: number, value: bigint, gasLimit: number, gasPrice: bigint, data: Uint8Array, signature: Uint8Array) {
    this.from = from
    this.to = to
    this.nonce = nonce
    this.value = value
    this.gasLimit = gasLimit
    this.gasPrice = gasPrice
    this.data = data
    this.signature = signature
  }
}

class Reader {
  readonly buf: Uint8Array
  pos = 0
  /** Length of the byte string {@link span} last found. */
  len = 0
  constructor (buf: Uint8Array) { this.buf = buf }

  /** Where the contents of the next byte string start (its length in `len`), or -1. */
  span (): number {
    const n = this.head(2)
    if (n < 0 || this.pos + n > this.buf.length) return -1
    const at = this.pos
    this.len = n
    this.pos += n
    return at
  }

  /** The argument of a head of `major` type in its shortest form, or -1. */
  head (major: number): number {
    const b = this.buf
    if (this.pos >= b.length) return -1
    const first = b[this.pos++]
    if (first >> 5 !== major) return -1
    const info = first & 0x1f
    if (info < 24) return info
    const need = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0
    if (need === 0 || this.pos + need > b.length) return -1
    let n = 0
    for (let i = 0; i < need; i++) n = n * 256 + b[this.pos++]
    // dag-cbor requires the shortest head; anything else goes to the strict decoder
    const min = info === 24 ? 24 : info === 25 ? 0x100 : info === 26 ? 0x10000 : 0x1_0000_0000
    if (n < min || n > Number.MAX_SAFE_INTEGER) return -1
    return n
  }

  key (k: Uint8Array): boolean {
    const b = this.buf
    if (this.pos + k.length > b.length) return false
    for (let i = 0; i < k.length; i++) if (b[this.pos + i] !== k[i]) return false
    this.pos += k.length
    return true
  }

  bytes (): Uint8Array | undefined {
    const n = this.head(2)
    if (n < 0 || this.pos + n > this.buf.length) return undefined
    // a plain Uint8Array view even when the page is a Buffer (as LevelDB returns it)
    const v = new Uint8Array(this.buf.buffer, this.buf.byteOffset + this.pos, n)
    this.pos += n
    return v
  }
}
