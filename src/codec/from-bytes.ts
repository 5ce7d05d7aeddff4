import * as dagCbor from '@ipld/dag-cbor'
import type { CID } from 'multiformats/cid'
import { bytesMatchCid, cidSlab, hashCidInto } from './cid.ts'
import { checkStoredLog, checkStoredTx, decodeHeader, headerFromStored } from './decode.ts'
import { HEADER_VERSION, SlabTx, type EncodedBlock, type EncodedTx, type IpldBlock, type StoredHeader } from './encode.ts'
import { BlockTooLargeError, CorruptDataError } from './errors.ts'
import { decodeReceiptPageFast, decodeTxPageFast } from './fast-cbor.ts'
import type { CodecLimits } from './types.ts'
import type { StoredReceipt, StoredTx } from './validate.ts'

/** Deepest nesting `cborItemEnd` follows; our values nest 4 deep at most. */
const MAX_DEPTH = 16

/**
 * Where the CBOR item starting at `pos` ends. Only definite lengths (dag-cbor
 * forbids the others). Throws CorruptDataError when the item runs past `end`.
 */
export function cborItemEnd (b: Uint8Array, pos: number, end = b.length, depth = 0): number {
  if (depth > MAX_DEPTH) throw new CorruptDataError('cbor: nested deeper than chainstore values go')
  if (pos >= end) throw new CorruptDataError('cbor: truncated item')
  const first = b[pos++]
  const major = first >> 5
  const info = first & 0x1f
  let arg = info
  if (info >= 24) {
    const need = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : -1
    if (need < 0) throw new CorruptDataError(`cbor: indefinite or reserved length (0x${first.toString(16)}) is not dag-cbor`)
    if (pos + need > end) throw new CorruptDataError('cbor: truncated head')
    arg = 0
    for (let i = 0; i < need; i++) arg = arg * 256 + b[pos++]
  }
  switch (major) {
    case 0: case 1: return pos
    case 2: case 3:
      if (pos + arg > end) throw new CorruptDataError('cbor: byte or text string runs past the end')
      return pos + arg
    case 4:
      for (let i = 0; i < arg; i++) pos = cborItemEnd(b, pos, end, depth + 1)
      return pos
    case 5:
      for (let i = 0; i < arg * 2; i++) pos = cborItemEnd(b, pos, end, depth + 1)
      return pos
    case 6: return cborItemEnd(b, pos, end, depth + 1)
    default: return pos // simple values and floats: the head carried them
  }
}

/** The encoded elements of a CBOR array, as views into `bytes`. */
export function splitCborArray (bytes: Uint8Array, what: string): { items: Uint8Array[], headLength: number } {
  const first = bytes[0]
  if (bytes.length === 0 || first >> 5 !== 4) throw new CorruptDataError(`${what}: not a cbor array`)
  let pos = 1
  let n = first & 0x1f
  if (n >= 24) {
    const need = n === 24 ? 1 : n === 25 ? 2 : n === 26 ? 4 : 8
    if (n > 27 || 1 + need > bytes.length) throw new CorruptDataError(`${what}: bad array head`)
    n = 0
    for (let i = 0; i < need; i++) n = n * 256 + bytes[pos++]
  }
  const headLength = pos
  if (n > bytes.length) throw new CorruptDataError(`${what}: array claims ${n} items in ${bytes.length} bytes`)
  const items: Uint8Array[] = new Array(n)
  for (let i = 0; i < n; i++) {
    const end = cborItemEnd(bytes, pos)
    items[i] = bytes.subarray(pos, end)
    pos = end
  }
  if (pos !== bytes.length) throw new CorruptDataError(`${what}: ${bytes.length - pos} bytes after the array`)
  return { items, headLength }
}

function decodeCbor<T> (bytes: Uint8Array, what: string): T {
  try {
    return dagCbor.decode<T>(bytes)
  } catch (err) {
    throw new CorruptDataError(`${what}: bytes are not valid dag-cbor`, { cause: err })
  }
}

/**
 * Rebuilds everything the indexes need from a block's stored or received
 * bytes, without re-encoding: the header, its pages split into transactions
 * (each transaction's id is the hash of its own slice of the page) and their
 * receipts. Every IPLD block is checked against its CID and every value
 * against the shapes the store writes, so bytes from a peer or from disk that
 * pass here index exactly as the writer's did.
 *
 * `page(cid)` returns a page's bytes, or undefined when missing.
 */
export function blockFromBytes (cid: CID, headerBytes: Uint8Array, page: (cid: CID) => Uint8Array | undefined, limits: CodecLimits): EncodedBlock {
  if (!bytesMatchCid(cid, headerBytes)) throw new CorruptDataError(`header bytes do not hash to ${cid.toString()}`)
  const h = decodeCbor<StoredHeader>(headerBytes, `header ${cid.toString()}`)
  if (h == null || typeof h !== 'object' || h.v !== HEADER_VERSION) throw new CorruptDataError(`header ${cid.toString()}: not a version ${HEADER_VERSION} block header`)
  headerFromStored(h) // shape checks: proposer, state root, links
  if (h.txCount > limits.maxTxsPerBlock) throw new BlockTooLargeError(`block ${cid.toString()}: ${h.txCount} transactions, limit is ${limits.maxTxsPerBlock}`)
  if (h.receiptPages.length !== 0 && h.receiptPages.length !== h.txPages.length) {
    throw new CorruptDataError(`block ${cid.toString()}: ${h.receiptPages.length} receipt pages for ${h.txPages.length} transaction pages`)
  }
  let size = headerBytes.length
  const fetchPage = (pageCid: CID, what: string): IpldBlock => {
    const bytes = page(pageCid)
    if (bytes == null) throw new CorruptDataError(`block ${cid.toString()}: ${what} ${pageCid.toString()} is missing`)
    if (!bytesMatchCid(pageCid, bytes)) throw new CorruptDataError(`block ${cid.toString()}: ${what} bytes do not hash to ${pageCid.toString()}`)
    size += bytes.length
    if (size > limits.maxBlockBytes) throw new BlockTooLargeError(`block ${cid.toString()}: more than ${limits.maxBlockBytes} bytes`)
    return { cid: pageCid, bytes }
  }
  const txPages: IpldBlock[] = []
  const receiptPages: IpldBlock[] = []
  const txs: EncodedTx[] = []
  // the block's ids, hashed in as each transaction is read; built as CIDs only when read (SlabTx)
  const ids = cidSlab(h.txCount)
  for (let p = 0; p < h.txPages.length; p++) {
    const txPage = fetchPage(h.txPages[p], 'transaction page')
    txPages.push(txPage)
    const { items } = splitCborArray(txPage.bytes, `transaction page ${p}`)
    const stored = decodeTxPageFast(txPage.bytes) ?? decodeCbor<StoredTx[]>(txPage.bytes, `transaction page ${p}`)
    let receipts: Uint8Array[] | null = null
    let decodedReceipts: StoredReceipt[] = []
    let receiptOffset = 0
    if (h.receiptPages.length > 0) {
      const receiptPage = fetchPage(h.receiptPages[p], 'receipt page')
      receiptPages.push(receiptPage)
      const split = splitCborArray(receiptPage.bytes, `receipt page ${p}`)
      receipts = split.items
      receiptOffset = split.headLength
      // the fixed layout read directly, else one generic decoder call for the page (per-receipt calls cost more in set-up than in decoding)
      decodedReceipts = decodeReceiptPageFast(receiptPage.bytes) ?? decodeCbor<StoredReceipt[]>(receiptPage.bytes, `receipt page ${p}`)
      if (receipts.length !== items.length) throw new CorruptDataError(`block ${cid.toString()}: page ${p} has ${items.length} transactions and ${receipts.length} receipts`)
    }
    for (let i = 0; i < items.length; i++) {
      const tx = stored[i]
      checkStoredTx(tx)
      if (items[i].length > limits.maxTxBytes) throw new BlockTooLargeError(`block ${cid.toString()}: transaction of ${items[i].length} bytes, limit is ${limits.maxTxBytes}`)
      let logs: StoredReceipt['logs'] = []
      let receiptLength = 0
      if (receipts != null) {
        const r = decodedReceipts[i]
        if (r == null || typeof r !== 'object' || (r.status !== 0 && r.status !== 1) || !Array.isArray(r.logs)) throw new CorruptDataError(`block ${cid.toString()}: receipt ${i} of page ${p} does not have the shape of a receipt`)
        for (const l of r.logs) checkStoredLog(l)
        logs = r.logs
        receiptLength = receipts[i].length
      }
      if (txs.length === h.txCount) throw new CorruptDataError(`block ${cid.toString()}: header says ${h.txCount} transactions, pages hold more`)
      hashCidInto(items[i], ids, txs.length)
      txs.push(new SlabTx(ids, txs.length, items[i], tx.from, tx.to, p, i, receiptOffset, receiptLength, logs))
      receiptOffset += receiptLength
    }
  }
  if (txs.length !== h.txCount) throw new CorruptDataError(`block ${cid.toString()}: header says ${h.txCount} transactions, pages hold ${txs.length}`)
  return { cid, height: h.height, parent: h.parent, header: { cid, bytes: headerBytes }, txPages, receiptPages, txs, size }
}

/** The links of a header: which IPLD blocks make up the block's DAG. */
export function headerLinks (headerBytes: Uint8Array): { height: number, parent: CID | null, pages: CID[] } {
  const h = decodeHeader(headerBytes)
  return { height: h.height, parent: h.parent, pages: [...h.txPages, ...h.receiptPages] }
}
