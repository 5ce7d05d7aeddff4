import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import type { StoredHeader } from './encode.ts'
import { DecodedTransaction, decodeTxPageToApi, decodeTxToApi } from './fast-cbor.ts'
import { CorruptDataError } from './errors.ts'
import { bytesToBigint, toHex } from './hex.ts'
import type { BlockHeader, Log, Receipt, Transaction } from './types.ts'
import { isUint, type StoredLog, type StoredReceipt, type StoredTx } from './validate.ts'

function decodeCbor<T> (bytes: Uint8Array, what: string): T {
  try {
    return dagCbor.decode<T>(bytes)
  } catch (err) {
    throw new CorruptDataError(`${what}: bytes are not valid dag-cbor`, { cause: err })
  }
}

function isBytes (v: unknown, len?: number): v is Uint8Array {
  return v instanceof Uint8Array && (len == null || v.length === len)
}

/** Decodes and checks a stored header. */
export function decodeHeader (bytes: Uint8Array): BlockHeader {
  return headerFromStored(decodeCbor<StoredHeader>(bytes, 'header'))
}

/** Checks a decoded header value and converts it to the API shape. */
export function headerFromStored (h: StoredHeader): BlockHeader {
  if (h == null || typeof h !== 'object' || !isUint(h.height) || !isUint(h.timestamp) || !isUint(h.txCount) ||
    !isBytes(h.proposer, 20) || !isBytes(h.stateRoot, 32) || !Array.isArray(h.txPages) || !Array.isArray(h.receiptPages) ||
    (h.parent !== null && CID.asCID(h.parent) == null) ||
    !h.txPages.every(c => CID.asCID(c) != null) || !h.receiptPages.every(c => CID.asCID(c) != null)) {
    throw new CorruptDataError('header: dag-cbor value does not have the shape of a block header')
  }
  return {
    height: h.height,
    parent: h.parent,
    timestamp: h.timestamp,
    proposer: toHex(h.proposer),
    stateRoot: toHex(h.stateRoot),
    txCount: h.txCount,
    txPages: h.txPages,
    receiptPages: h.receiptPages
  }
}

/** Checks that a decoded value has the shape of a stored transaction; CorruptDataError if not. */
export function checkStoredTx (t: StoredTx): void {
  if (t == null || typeof t !== 'object' || !isBytes(t.from, 20) || !(t.to === null || isBytes(t.to, 20)) ||
    !isUint(t.nonce) || !isBytes(t.value) || !isUint(t.gas) || !isBytes(t.gasPrice) || !isBytes(t.data) || !isBytes(t.sig)) {
    throw new CorruptDataError('transaction: dag-cbor value does not have the shape of a transaction')
  }
}

/** Converts a stored transaction value to the API shape. */
export function fromStoredTx (t: StoredTx): Transaction {
  checkStoredTx(t)
  return new DecodedTransaction(toHex(t.from), t.to === null ? null : toHex(t.to), t.nonce, bytesToBigint(t.value), t.gas, bytesToBigint(t.gasPrice), t.data, t.sig)
}

/** Decodes one transaction's own dag-cbor bytes. */
export function decodeTx (bytes: Uint8Array): Transaction {
  return decodeTxToApi(bytes) ?? fromStoredTx(decodeCbor<StoredTx>(bytes, 'transaction'))
}

/** Decodes a transaction page (fixed-layout fast path, generic dag-cbor otherwise). */
export function decodeTxPage (bytes: Uint8Array): Transaction[] {
  const fast = decodeTxPageToApi(bytes)
  if (fast != null) return fast
  const items = decodeCbor<StoredTx[]>(bytes, 'transaction page')
  if (!Array.isArray(items)) throw new CorruptDataError('transaction page: not an array')
  return items.map(fromStoredTx)
}

/** Converts a stored log to the API shape. */
export function fromStoredLog (l: StoredLog): Log {
  checkStoredLog(l)
  return { address: toHex(l.address), topics: l.topics.map(toHex), data: l.data }
}

/** Checks that a decoded value has the shape of a stored log; CorruptDataError if not. */
export function checkStoredLog (l: StoredLog): void {
  if (l == null || !isBytes(l.address, 20) || !Array.isArray(l.topics) || !l.topics.every(t => isBytes(t, 32)) || !isBytes(l.data)) {
    throw new CorruptDataError('log: dag-cbor value does not have the shape of a log')
  }
}

/** Decodes one receipt's own dag-cbor bytes. */
export function decodeReceipt (bytes: Uint8Array): Receipt {
  const r = decodeCbor<StoredReceipt>(bytes, 'receipt')
  if (r == null || typeof r !== 'object' || (r.status !== 0 && r.status !== 1) || !isUint(r.gasUsed) || !Array.isArray(r.logs)) {
    throw new CorruptDataError('receipt: dag-cbor value does not have the shape of a receipt')
  }
  return { status: r.status, gasUsed: r.gasUsed, logs: r.logs.map(fromStoredLog) }
}
