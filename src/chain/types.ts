import type { CID } from 'multiformats/cid'
import type { EncodedBlock } from '../codec/encode.ts'
import type { StoredBlock } from '../codec/types.ts'
import type { WriteBatch } from '../storage/types.ts'

/** The latest stored block. */
export interface Head {
  height: number
  cid: CID
}

/** What a write waits for: `one` the local durable write; `quorum` / `all` also replica confirmations. */
export type Consistency = 'one' | 'quorum' | 'all'

/** Options of `storeBlock(s)`. */
export interface StoreOptions {
  /**
   * `one` (default): return after the local durable write. `quorum` / `all`:
   * also wait until a majority of / every replica confirms it holds the
   * blocks verified and pinned (needs `network.enabled`).
   */
  consistency?: Consistency
  /** Fork-choice weight announced with the blocks (default 1). */
  weight?: number
  /** Announce the blocks as finalized. */
  finalized?: boolean
}

/** A block the pipeline wrote, as the `block` event carries it. */
export interface BlockEvent {
  cid: CID
  height: number
  created: boolean
  canonical: boolean
  txIds?: CID[]
}

/** What one imported block became (`created: false` when it was already stored). */
export interface ImportResult {
  cid: CID
  height: number
  created: boolean
  canonical: boolean
}

/** Where a block of a write goes and what the pin stage sees. */
export interface StageContext {
  /** On the canonical chain (indexed) or on a side branch. */
  canonical: boolean
  /** Height of the head this batch ends with (-1: none). */
  head: number
}

/**
 * One concern's share of a block write: it adds its entries to THE batch
 * (one LevelDB batch per write, so a crash keeps all of them or none).
 * `headMoved` runs once per batch when the canonical head moves.
 */
export interface WriteStage {
  name: string
  stage: (batch: WriteBatch, block: EncodedBlock, ctx: StageContext) => void
  headMoved?: (batch: WriteBatch, from: number, to: number, at: (height: number) => CID | undefined) => void
  /** The batch this stage added to will not be written (a later stage or block threw): undo what it keeps in memory. */
  abandoned?: (batch: WriteBatch) => void
}

/** What a written batch committed. */
export interface Committed {
  /** Replicated import (true) or local write. */
  replicated: boolean
  /** The blocks written, lowest height first. */
  blocks: Array<{ block: EncodedBlock, canonical: boolean }>
  /** One `block` event per written block. */
  events: BlockEvent[]
  head: Head | null
  /** The canonical head moved. */
  moved: boolean
}

/** Runs under the write lock right after the batch is durable (metrics, events): synchronous, in order. */
export type CommitListener = (committed: Committed) => void

/** One local `storeBlocks` call as the after-commit listeners see it. */
export interface LocalWrite {
  /** Every block of the call, in the caller's order. */
  encoded: EncodedBlock[]
  /** What each became (`created: false`: already stored). */
  stored: StoredBlock[]
  /** What the batch committed (null when every block was already stored). */
  committed: Committed | null
}

/** Runs after the write lock is released, in order (finality, announcements, quorum waits). */
export type AfterCommit = (write: LocalWrite, options: StoreOptions) => Promise<void>

/**
 * A write stage that also follows finality: when the finalized height moves
 * from `from` to `to` it adds its entries to the same batch, and may return
 * work to start once the batch is durable.
 */
export interface FinalityStage {
  finalityMoved: (batch: WriteBatch, from: number, to: number, head: number) => (() => void) | undefined
}

/** What `setCanonical` changed: the canonical blocks removed and added past the fork point. */
export interface ReorgEvent {
  from: Head | null
  to: Head
  /** Height of the last block both chains share (-1 when none). */
  forkHeight: number
  /** Blocks taken off the canonical chain, lowest first. */
  removed: CID[]
  /** Blocks put on it, lowest first. */
  added: CID[]
}

/** Payloads of the chain's events, by name. */
export interface ChainEventMap {
  block: [BlockEvent]
  head: [Head]
  reorg: [ReorgEvent]
}

/** Read-only view of the chain that other rooms (replication, pinning) depend on. */
export interface ChainView {
  head: () => Head | null
  finalizedHeight: () => number
  canonicalAt: (height: number) => CID | undefined
  /** Height of a stored block header (canonical or side branch), or undefined. */
  blockHeight: (cid: CID) => number | undefined
  hasBlock: (cid: CID) => boolean
}

/** How other rooms write into the chain. */
export interface ChainWriter {
  /** Stores blocks received from peers (side branches allowed). */
  importBlocks: (blocks: EncodedBlock[]) => Promise<ImportResult[]>
  /** Makes `tip` the canonical head (reorg when needed). */
  setCanonical: (tip: CID) => Promise<unknown>
  /** Marks the canonical chain final up to a height. */
  setFinalized: (height: number) => Promise<void>
}
