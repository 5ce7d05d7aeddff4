import * as dagCbor from '@ipld/dag-cbor'
import type { CID } from 'multiformats/cid'
import { cidAt, cidBytesOf, cidOf, digestOffset } from './cid.ts'
import { encodeReceiptInput, encodeTxInput } from './encode-input.ts'
import { Writer, encodeReceipt, encodeTx } from './fast-cbor.ts'
import { BlockTooLargeError, TransactionTooLargeError } from './errors.ts'
import { normalizeHeaderFields, normalizeReceipt, normalizeTx, type StoredLog, type StoredReceipt, type StoredTx } from './validate.ts'
import type { BlockInput, CodecLimits } from './types.ts'

/** Version of the header layout, stored in every header as `v`. */
export const HEADER_VERSION = 1

/** A header in its stored (dag-cbor) shape. */
export interface StoredHeader {
  v: number
  height: number
  parent: CID | null
  timestamp: number
  proposer: Uint8Array
  stateRoot: Uint8Array
  txCount: number
  txPages: CID[]
  receiptPages: CID[]
}

/** One IPLD block: its CID and bytes. */
export interface IpldBlock {
  cid: CID
  bytes: Uint8Array
}

/** An encoded transaction with everything the indexes need. */
export interface EncodedTx {
  id: CID
  bytes: Uint8Array
  from: Uint8Array
  to: Uint8Array | null
  page: number
  position: number
  /** Byte range of this transaction's receipt inside its receipt page (length 0 when none). */
  receiptOffset: number
  receiptLength: number
  logs: StoredLog[]
  /**
   * Copies the id's 32-byte sha2-256 digest into `out` at `at` without
   * building the id's CID (what the indexes need of it); absent on
   * transactions built elsewhere, whose `id.multihash.digest` serves.
   */
  digestInto?: (out: Uint8Array, at: number) => void
}

/**
 * An encoded transaction whose id is built on first read: the block's ids
 * are hashed into one buffer ({@link cidBytesOf}) and the indexes copy the
 * digests from it ({@link SlabTx.digestInto}), so a write that nobody asks
 * the ids of makes no CID objects (five objects per transaction: ~14 % of
 * what ingest allocated on V8's heap, `scripts/ingest-alloc.ts`).
 */
export class SlabTx implements EncodedTx {
  readonly bytes: Uint8Array
  readonly from: Uint8Array
  readonly to: Uint8Array | null
  readonly page: number
  readonly position: number
  readonly receiptOffset: number
  readonly receiptLength: number
  readonly logs: StoredLog[]
  readonly #ids: Uint8Array
  readonly #index: number
  #id: CID | undefined

  /** The `index`-th transaction of the block whose ids `ids` holds ({@link cidBytesOf}); the rest as in {@link EncodedTx}. */
  constructor (ids: Uint8Array, index: number, bytes: Uint8Array, from: Uint8Array, to: Uint8Array | null, page: number, position: number,
    receiptOffset: number, receiptLength: number, logs: StoredLog[]) {
    this.#ids = ids
    this.#index = index
    this.bytes = bytes
    this.from = from
    this.to = to
    this.page = page
    this.position = position
    this.receiptOffset = receiptOffset
    this.receiptLength = receiptLength
    this.logs = logs
  }

  /** The transaction id (dag-cbor CIDv1 of its bytes), built on first read. */
  get id (): CID {
    return (this.#id ??= cidAt(this.#ids, this.#index))
  }

  digestInto (out: Uint8Array, at: number): void {
    const ids = this.#ids
    const from = digestOffset(this.#index)
    for (let i = 0; i < 32; i++) out[at + i] = ids[from + i]
  }
}

/** A block encoded into header + pages, ready for one write batch. */
export interface EncodedBlock {
  cid: CID
  height: number
  parent: CID | null
  header: IpldBlock
  txPages: IpldBlock[]
  receiptPages: IpldBlock[]
  txs: EncodedTx[]
  /** Header plus every page, in bytes. */
  size: number
}

/**
 * dag-cbor encodes an array as a length header followed by each element's own
 * canonical encoding, so a page is assembled from the transactions' bytes (which
 * were encoded once, to compute their ids) instead of encoding every transaction
 * a second time. A test checks the result equals `dagCbor.encode(array)`.
 */
export function cborArray (items: Uint8Array[], start = 0, end = items.length): Uint8Array {
  const n = end - start
  const headLen = headLength(n)
  let size = headLen
  let contiguous = n > 0
  for (let i = start; i < end; i++) {
    size += items[i].length
    if (i > start && (items[i].buffer !== items[i - 1].buffer || items[i].byteOffset !== items[i - 1].byteOffset + items[i - 1].length)) contiguous = false
  }
  const out = new Uint8Array(size)
  if (n < 24) out[0] = 0x80 + n
  else if (n < 0x100) { out[0] = 0x98; out[1] = n }
  else if (n < 0x10000) { out[0] = 0x99; out[1] = n >> 8; out[2] = n & 0xff }
  else { out[0] = 0x9a; out[1] = (n >>> 24) & 0xff; out[2] = (n >> 16) & 0xff; out[3] = (n >> 8) & 0xff; out[4] = n & 0xff }
  if (contiguous) {
    // items written one after another into one writer: a single copy
    const first = items[start]
    out.set(new Uint8Array(first.buffer, first.byteOffset, size - headLen), headLen)
    return out
  }
  let offset = headLen
  for (let i = start; i < end; i++) {
    out.set(items[i], offset)
    offset += items[i].length
  }
  return out
}

/** Byte offset of element `i` inside a page built by {@link cborArray}. */
function headLength (n: number): number {
  return n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5
}

/**
 * Validates a block and encodes it: every transaction as its own dag-cbor value
 * (its CID is the transaction id), transactions grouped into pages bounded by
 * `limits.pageBytes`, receipts into pages aligned with them, and the header
 * linking both.
 */
export function encodeBlock (input: BlockInput, limits: CodecLimits): EncodedBlock {
  const fields = normalizeHeaderFields(input)
  const items = encodeItems(input, limits)
  const { txPages, receiptPages, txs } = paginate(items, limits)
  const header: StoredHeader = {
    v: HEADER_VERSION,
    height: fields.height,
    parent: fields.parent,
    timestamp: fields.timestamp,
    proposer: fields.proposer,
    stateRoot: fields.stateRoot,
    txCount: txs.length,
    txPages: txPages.map(p => p.cid),
    receiptPages: receiptPages.map(p => p.cid)
  }
  const headerBytes = dagCbor.encode(header)
  let size = headerBytes.length
  for (const p of txPages) size += p.bytes.length
  for (const p of receiptPages) size += p.bytes.length
  if (size > limits.maxBlockBytes) {
    throw new BlockTooLargeError(`block: ${size} bytes encoded, limit is ${limits.maxBlockBytes}`)
  }
  const cid = cidOf(headerBytes)
  return { cid, height: fields.height, parent: fields.parent, header: { cid, bytes: headerBytes }, txPages, receiptPages, txs, size }
}

/** A transaction's sender and recipient (what the indexes need of it besides its bytes). */
interface Parties { from: Uint8Array, to: Uint8Array | null }

/** A validated transaction encoded into `w`: its bytes, sender and recipient. */
function encodeStored (tx: StoredTx, w: Writer): Parties & { bytes: Uint8Array } {
  return { bytes: encodeTx(tx, w), from: tx.from, to: tx.to }
}

/** A validated receipt encoded into `w`: its bytes and logs. */
function encodeStoredReceipt (r: StoredReceipt, w: Writer): { bytes: Uint8Array, logs: StoredLog[] } {
  return { bytes: encodeReceipt(r, w), logs: r.logs }
}

/** A block's transactions and receipts, each normalised and encoded once. */
interface EncodedItems {
  txBytes: Uint8Array[]
  parties: Parties[]
  receiptBytes: Uint8Array[] | null
  logs: StoredLog[][]
}

/** Normalises and encodes every transaction and receipt of a block, checking the size limits on the way. */
function encodeItems (input: BlockInput, limits: CodecLimits): EncodedItems {
  const inputs = input.transactions
  if (inputs.length > limits.maxTxsPerBlock) {
    throw new BlockTooLargeError(`block.transactions: ${inputs.length} transactions, limit is ${limits.maxTxsPerBlock}`)
  }
  const count = inputs.length
  const items: EncodedItems = { txBytes: new Array(count), parties: new Array(count), receiptBytes: input.receipts != null ? new Array(count) : null, logs: new Array(count) }
  let size = 0
  // growing a writer leaves earlier views on the old buffer intact, so views stay valid
  const txWriter = new Writer(Math.max(1024, count * 320))
  const receiptWriter = new Writer(items.receiptBytes != null ? Math.max(1024, count * 128) : 0)
  for (let i = 0; i < count; i++) {
    // hex fields decoded straight into the page's writer; anything that path does not take goes through the validator
    const tx = encodeTxInput(inputs[i], txWriter) ?? encodeStored(normalizeTx(inputs[i], `block.transactions[${i}]`), txWriter)
    const bytes = tx.bytes
    if (bytes.length > limits.maxTxBytes) {
      throw new TransactionTooLargeError(`block.transactions[${i}]: ${bytes.length} bytes encoded, limit is ${limits.maxTxBytes}`)
    }
    items.parties[i] = tx
    items.txBytes[i] = bytes
    size += bytes.length
    if (items.receiptBytes != null) {
      const receipt = encodeReceiptInput(input.receipts![i], receiptWriter) ?? encodeStoredReceipt(normalizeReceipt(input.receipts![i], `block.receipts[${i}]`), receiptWriter)
      items.receiptBytes[i] = receipt.bytes
      size += receipt.bytes.length
      items.logs[i] = receipt.logs
    } else {
      items.logs[i] = []
    }
    if (size > limits.maxBlockBytes) {
      throw new BlockTooLargeError(`block: more than ${limits.maxBlockBytes} bytes of transactions and receipts`)
    }
  }
  return items
}

/**
 * Splits encoded transactions (and receipts) into pages bounded by
 * `pageBytes`; transaction ids are hashed into one buffer for the block
 * and built as CIDs only when read ({@link SlabTx}).
 */
function paginate (items: EncodedItems, limits: CodecLimits): { txPages: IpldBlock[], receiptPages: IpldBlock[], txs: EncodedTx[] } {
  const { txBytes, parties, receiptBytes, logs } = items
  const count = txBytes.length
  const ids = cidBytesOf(txBytes)
  const txPages: IpldBlock[] = []
  const receiptPages: IpldBlock[] = []
  const txs: EncodedTx[] = new Array(count)
  let start = 0
  while (start < count) {
    let end = start + 1
    let pageSize = txBytes[start].length
    // the page's array header counts too (1 byte up to 23 items, 2 up to 255, …):
    // without it a page could come out a byte or two over pageBytes (found by
    // the fault suite's codec property)
    while (end < count && headLength(end + 1 - start) + pageSize + txBytes[end].length <= limits.pageBytes) {
      pageSize += txBytes[end].length
      end++
    }
    const page = txPages.length
    const pageBytes = cborArray(txBytes, start, end)
    txPages.push({ cid: cidOf(pageBytes), bytes: pageBytes })
    let receiptOffset = headLength(end - start)
    if (receiptBytes != null) {
      const rBytes = cborArray(receiptBytes, start, end)
      receiptPages.push({ cid: cidOf(rBytes), bytes: rBytes })
    }
    for (let i = start; i < end; i++) {
      const receiptLength = receiptBytes != null ? receiptBytes[i].length : 0
      txs[i] = new SlabTx(ids, i, txBytes[i], parties[i].from, parties[i].to, page, i - start, receiptBytes != null ? receiptOffset : 0, receiptLength, logs[i])
      receiptOffset += receiptLength
    }
    start = end
  }
  return { txPages, receiptPages, txs }
}
