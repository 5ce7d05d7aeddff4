import type { CID } from 'multiformats/cid'

/** A transaction as callers hand it in. Addresses are 0x-prefixed 20-byte hex. */
export interface TransactionInput {
  from: string
  /** `null` for contract creation. */
  to: string | null
  nonce: number
  /** Amount in the chain's smallest unit: bigint, safe integer, or decimal / 0x-hex string. */
  value: bigint | number | string
  gasLimit: number
  gasPrice: bigint | number | string
  /** Call data: bytes or 0x-hex. */
  data?: Uint8Array | string
  /** Sender's signature: bytes or 0x-hex. */
  signature?: Uint8Array | string
}

/** A transaction as chainstore returns it. */
export interface Transaction {
  from: string
  to: string | null
  nonce: number
  value: bigint
  gasLimit: number
  gasPrice: bigint
  data: Uint8Array
  signature: Uint8Array
}

/** One event log of a receipt. Topics are 0x-prefixed 32-byte hex. */
export interface LogInput {
  address: string
  topics: string[]
  data?: Uint8Array | string
}

/** An event log as chainstore returns it. */
export interface Log {
  address: string
  topics: string[]
  data: Uint8Array
}

/** The outcome of executing one transaction. */
export interface ReceiptInput {
  /** 1 success, 0 failure. */
  status: 0 | 1
  gasUsed: number
  logs?: LogInput[]
}

/** A receipt as chainstore returns it. */
export interface Receipt {
  status: 0 | 1
  gasUsed: number
  logs: Log[]
}

/** A block as callers hand it in. */
export interface BlockInput {
  height: number
  /** CID (or its string) of the parent header; `null` only for a chain's first block. */
  parent: CID | string | null
  /** Milliseconds since the epoch. */
  timestamp: number
  proposer: string
  /** 0x-prefixed 32-byte hex. */
  stateRoot: string
  transactions: TransactionInput[]
  /** One per transaction, in the same order, when the producer has executed the block. */
  receipts?: ReceiptInput[]
}

/** A decoded block header. */
export interface BlockHeader {
  height: number
  parent: CID | null
  timestamp: number
  proposer: string
  stateRoot: string
  txCount: number
  /** Transaction pages, in order. */
  txPages: CID[]
  /** Receipt pages, aligned with `txPages` (empty when the block carries no receipts). */
  receiptPages: CID[]
}

/** A whole block as read back. */
export interface Block {
  cid: CID
  header: BlockHeader
  transactions: Transaction[]
  /** `txIds[i]` is the id of `transactions[i]`. */
  txIds: CID[]
}

/** Where a transaction lives. */
export interface TransactionLocation {
  blockCid: CID
  height: number
  /** Index of the page within the block. */
  page: number
  pageCid: CID
  /** Index within its page. */
  position: number
  /** Index within the block. */
  index: number
}

/** A transaction with its id and location. */
export interface TransactionRecord extends TransactionLocation {
  id: CID
  transaction: Transaction
}

/** A receipt with the transaction it belongs to. */
export interface ReceiptRecord extends TransactionLocation {
  txId: CID
  receipt: Receipt
}

/** What `storeBlock` acknowledges. */
export interface StoredBlock {
  cid: CID
  height: number
  txIds: CID[]
  /** False when the block was already stored and the call changed nothing. */
  created: boolean
}

/** Limits a block must respect; from config. */
export interface CodecLimits {
  maxTxBytes: number
  maxBlockBytes: number
  maxTxsPerBlock: number
  pageBytes: number
}
