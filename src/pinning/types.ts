import type { CID } from 'multiformats/cid'
import type { PinReason } from './records.ts'

export type { PinReason, PinRecord, PinState } from './records.ts'

/** A hold waiting on blocks from the network; persisted until it is pinned or failed. */
export interface PinJob {
  cid: CID
  reason: PinReason
  recursive: boolean
  height?: number
}

/** What one collection did. */
export interface GcSummary {
  /** Blocks in the store when the collection started. */
  scanned: number
  /** Blocks reachable from a pin or a replicated log: kept. */
  marked: number
  deleted: number
  bytesFreed: number
  /** Pinned records whose DAG has a block missing (reported, never "fixed" by deleting); holds still fetching are not counted. */
  incompletePins: number
  ms: number
  /** Time spent compacting the blocks' key range afterwards (gc with `compact`). */
  compactMs?: number
}

/** Progress of a collection: phase and counts so far. */
export type GcProgress = (p: { phase: 'mark' | 'sweep', done: number, total: number }) => void
