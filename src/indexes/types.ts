import type { CID } from 'multiformats/cid'
import type { Log, TransactionRecord } from '../codec/types.ts'

/** Options of `getAddressHistory`. */
export interface HistoryOptions {
  /** Entries per page, 1..1000 (default 100). */
  limit?: number
  /** The `cursor` of the previous page. */
  cursor?: string
  /** Newest first. */
  reverse?: boolean
  signal?: AbortSignal
}

/** One page of an address's history. */
export interface HistoryPage {
  items: TransactionRecord[]
  /** Pass to the next call for the next page; absent on the last page. */
  cursor?: string
}

/** A topic filter slot: one topic, any of several, or `null` for any. */
export type TopicFilter = string | string[] | null

/** Query of `getLogs`, with Ethereum's `eth_getLogs` semantics. */
export interface LogQuery {
  address?: string
  topics?: TopicFilter[]
  fromHeight?: number
  toHeight?: number
  /** Most logs returned, 1..10000 (default 1000). */
  limit?: number
  signal?: AbortSignal
}

/** A log with where it was emitted. */
export interface LogRecord extends Log {
  txId: CID
  height: number
  /** Transaction index in the block. */
  index: number
  /** Log index in the receipt. */
  logIndex: number
}

/** What the index repositories read through: a live database or a snapshot view of one. */
export interface IndexSource {
  get: (key: Uint8Array) => Uint8Array | undefined
  iterator: (range: { gte?: Uint8Array, lte?: Uint8Array }) => AsyncIterable<[Uint8Array, Uint8Array]>
}
