/**
 * Transaction and receipt inputs encoded straight into a block's writers:
 * the bytes `encodeTx(normalizeTx(input))` and `encodeReceipt(
 * normalizeReceipt(input))` give, with hex fields decoded by Node's decoder
 * into the page's own buffer instead of into a Buffer per field, then a
 * view, then a copy. The fields the indexes need (sender, recipient, logs)
 * are views of that buffer. Inputs this path does not take come back
 * `undefined` and go through the validator (src/codec/validate.ts), which
 * names the problem; test/faults/properties.test.ts holds the two paths to
 * the same bytes and fields.
 */
import { MAP_KEYS as K, NULL, type Writer } from './fast-cbor.ts'
import { hexShaped, quantityDigits } from './hex.ts'
import type { LogInput, ReceiptInput, TransactionInput } from './types.ts'
import { MAX_TOPICS, QUANTITY_LIMIT, isUint, type StoredLog } from './validate.ts'

/** A quantity (bigint or safe integer, already range-checked) as its minimal big-endian byte string. */
function quantityBytes (w: Writer, n: bigint | number): void {
  const digits = quantityDigits(n)
  w.hexBytes(digits, digits.length >> 1, 0)
}

function quantityOk (v: unknown): v is bigint | number {
  return typeof v === 'bigint' ? v >= 0n && v < QUANTITY_LIMIT : isUint(v)
}

function bytesOk (v: unknown): boolean {
  return v == null || v instanceof Uint8Array || (typeof v === 'string' && hexShaped(v))
}

function addressOk (v: unknown): v is string {
  return typeof v === 'string' && v.length === 42 && hexShaped(v)
}

/** Where a field was written: the offset of decoded hex in the writer's buffer (-1: a digit that is not hex), or the caller's own bytes. */
type Span = number | Uint8Array

const EMPTY = new Uint8Array(0)

/** Writes a bytes-or-hex field checked by {@link bytesOk}. */
function spanOf (w: Writer, v: Uint8Array | string | null | undefined): Span {
  if (v == null) { w.head(2, 0); return EMPTY }
  if (typeof v === 'string') return w.hexBytes(v, (v.length - 2) >> 1)
  w.bytes(v)
  return v
}

/** The `n` bytes a span names, as a view of the buffer `b` the field was written to. */
function viewOf (b: Uint8Array, span: Span, n: number): Uint8Array {
  return typeof span === 'number' ? b.subarray(span, span + n) : span
}

/**
 * Encodes a transaction input straight into `w` (the bytes `encodeTx`
 * writes for `normalizeTx(input)`), decoding hex fields into the buffer
 * instead of into a Buffer each: the sender and recipient returned are
 * views of it. Returns `undefined`, with `w` as it was, for any input it
 * does not take or any field that is not valid (decimal or hex quantity
 * strings, a digit that is not hex): the caller then runs `normalizeTx`,
 * which throws the error that names the problem, or encodes what this path
 * leaves to it.
 */
export function encodeTxInput (input: TransactionInput, w: Writer): { bytes: Uint8Array, from: Uint8Array, to: Uint8Array | null } | undefined {
  if (input == null || typeof input !== 'object') return undefined
  const { from, to, nonce, value, gasLimit, gasPrice, data, signature } = input
  if (!addressOk(from) || (to !== null && !addressOk(to)) || !isUint(nonce) || !quantityOk(value) || !isUint(gasLimit) ||
    !quantityOk(gasPrice) || !bytesOk(data) || !bytesOk(signature) || Array.isArray(input) || input instanceof Uint8Array) return undefined
  const start = w.pos
  w.head(5, 8)
  w.raw(K.to)
  let toAt = 0
  if (to === null) { w.ensure(1); w.buf[w.pos++] = NULL } else toAt = w.hexBytes(to, 20)
  w.raw(K.gas); w.uint(gasLimit)
  w.raw(K.sig)
  let ok = spanOf(w, signature) !== -1
  w.raw(K.data)
  ok = spanOf(w, data) !== -1 && ok
  w.raw(K.from)
  const fromAt = w.hexBytes(from, 20)
  w.raw(K.nonce); w.uint(nonce)
  w.raw(K.value); quantityBytes(w, value)
  w.raw(K.gasPrice); quantityBytes(w, gasPrice)
  if (!ok || fromAt < 0 || toAt < 0) { w.pos = start; return undefined }
  // views of the buffer the fields were written to (a later growth leaves this one intact)
  const b = w.buf
  return { bytes: b.subarray(start, w.pos), from: b.subarray(fromAt, fromAt + 20), to: to === null ? null : b.subarray(toAt, toAt + 20) }
}


/**
 * Encodes a receipt input straight into `w` (the bytes `encodeReceipt`
 * writes for `normalizeReceipt(input)`), hex decoded into the buffer, and
 * returns its logs in their stored shape (views of the buffer, or the
 * caller's own byte arrays, as `normalizeReceipt` returns them). Returns
 * `undefined`, with `w` as it was, for anything it does not take; the
 * caller then runs `normalizeReceipt`.
 */
export function encodeReceiptInput (input: ReceiptInput, w: Writer): { bytes: Uint8Array, logs: StoredLog[] } | undefined {
  if (input == null || typeof input !== 'object' || Array.isArray(input) || input instanceof Uint8Array) return undefined
  const { status, gasUsed } = input
  const logs = input.logs ?? []
  if ((status !== 0 && status !== 1) || !isUint(gasUsed) || !Array.isArray(logs)) return undefined
  const start = w.pos
  w.head(5, 3)
  w.raw(K.logs); w.head(4, logs.length)
  const spans: Array<{ data: Span, dataLength: number, topics: Span[], address: number }> = []
  for (const log of logs as Array<LogInput | null>) {
    if (log == null || typeof log !== 'object' || Array.isArray(log) || log instanceof Uint8Array || !Array.isArray(log.topics) ||
      log.topics.length > MAX_TOPICS || !addressOk(log.address) || !bytesOk(log.data)) { w.pos = start; return undefined }
    w.head(5, 3)
    w.raw(K.data)
    const data = log.data as Uint8Array | string | null | undefined
    const dataLength = data == null ? 0 : typeof data === 'string' ? (data.length - 2) >> 1 : data.length
    const dataSpan = spanOf(w, data)
    w.raw(K.topics); w.head(4, log.topics.length)
    const topics: Span[] = []
    for (const t of log.topics as Array<Uint8Array | string>) {
      if (!(t instanceof Uint8Array ? t.length === 32 : typeof t === 'string' && t.length === 66 && hexShaped(t))) { w.pos = start; return undefined }
      topics.push(spanOf(w, t))
    }
    w.raw(K.address)
    const address = w.hexBytes(log.address, 20)
    if (dataSpan === -1 || address < 0 || topics.includes(-1)) { w.pos = start; return undefined }
    spans.push({ data: dataSpan, dataLength, topics, address })
  }
  w.raw(K.status); w.uint(status)
  w.raw(K.gasUsed); w.uint(gasUsed)
  // views of the buffer the fields were written to (a later growth leaves this one intact)
  const b = w.buf
  return {
    bytes: b.subarray(start, w.pos),
    logs: spans.map(x => ({ address: viewOf(b, x.address, 20), topics: x.topics.map(t => viewOf(b, t, 32)), data: viewOf(b, x.data, x.dataLength) }))
  }
}
