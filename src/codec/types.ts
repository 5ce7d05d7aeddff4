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

/** Reads a block for a DAG walk: its bytes, or `undefined` when it is not there (throw for anything else). */
export type BlockLoader = (cid: CID, options: { signal?: AbortSignal }) => Uint8Array | undefined | Promise<Uint8Array | undefined>

/** Options of the DAG walker (`walkDag` in src/codec/walk.ts): what a pin, GC, backup or integrity walk passes. */
export interface WalkOptions {
  /** `depth-first` (default: parents before children, children in the order their parent links them) or `breadth-first`. */
  order?: 'depth-first' | 'breadth-first'
  /** Links are followed below this depth only: 0 visits the root alone. Default: the whole DAG. */
  maxDepth?: number
  /** Yield a block `load` did not find (with no bytes) and go on, instead of throwing MissingBlockError. */
  reportMissing?: boolean
  /**
   * Keys of blocks whose links were already followed, shared between walks so
   * a common subtree is walked once; the walk adds each block it expands. A
   * missing block never enters it, so every walk that reaches one reports it.
   */
  expanded?: Set<string>
  /** The dedup key of a block (default: its CID string). */
  key?: (cid: CID) => string
  /**
   * The links to follow from a block (default: every link `linksOf` reads, none
   * for a codec it cannot read). Errors thrown here end the walk unchanged.
   */
  links?: (cid: CID, bytes: Uint8Array) => CID[]
  signal?: AbortSignal
}

/** One block reached by a DAG walk. */
export interface WalkedBlock {
  cid: CID
  /** Links from the root to here (the root is 0). */
  depth: number
  /** The block's bytes; absent when the loader did not find it (with `reportMissing`). */
  bytes?: Uint8Array
}
