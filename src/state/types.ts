import type { CID } from 'multiformats/cid'
import type { Logger } from '../logger.ts'
import type { StoreBatch, BlocksDb, RootDb } from '../storage/level.ts'

/** Validator status of an account; `none` for an account that never bonded. */
export const VALIDATOR_STATUSES = ['none', 'candidate', 'active', 'jailed', 'exited'] as const
export type ValidatorStatus = typeof VALIDATOR_STATUSES[number]

/** Emotional-consensus score aggregates over the attestations counted so far. */
export interface ScoreAggregate {
  count: number
  sum: number
  min: number
  max: number
}

/** One account's state: what the trie holds under its address. */
export interface AccountState {
  balance: bigint
  nonce: number
  stake: bigint
  validator: ValidatorStatus
  score: ScoreAggregate
}

/** What opening a state store needs: the node's LevelDB and its blocks sublevel. */
export interface StateStoreInit {
  db: RootDb
  blocks: BlocksDb
  /** fsync each commit and rollback (the store's `durability`). */
  sync: boolean
  logger: Logger
  /** Byte budget of the trie node cache; 0 turns it off. */
  nodeCacheBytes?: number
  /**
   * Entries every commit, adopted root and rollback adds to its batch, before
   * the caller's own hooks: the store pins roots here, so no caller can
   * commit a root that GC would not keep.
   */
  hooks?: { commit?: CommitHook, rollback?: RollbackHook }
}

/** Adds the caller's entries (a pin record...) to the batch that records a root. */
export type CommitHook = (batch: StoreBatch, root: CID, height: number) => void | Promise<void>

/** A root a rollback dropped; `stillRecorded` when a kept height has the same root. */
export interface DroppedRoot {
  height: number
  root: CID
  stillRecorded: boolean
}

/** Adds the caller's entries (pin releases...) to the batch that drops roots above the rollback height. */
export type RollbackHook = (batch: StoreBatch, dropped: DroppedRoot[]) => void | Promise<void>

/** What a commit wrote. */
export interface CommitResult {
  height: number
  root: CID
  /** Trie nodes written (new nodes reachable from the root). */
  nodes: number
  /** Bytes of those nodes. */
  bytes: number
  /** Keys whose flat entries changed. */
  changes: number
}

/** A Merkle proof of one key (present or absent) under a state root. */
export interface StateProof {
  root: CID
  height: number
  key: Uint8Array
  /** The proven value; undefined proves absence. */
  value: AccountState | undefined
  /** RLP trie nodes from the root down (EIP-1186 order). */
  nodes: Uint8Array[]
}

/** The committed head of the state. */
export interface StateHead {
  height: number
  root: CID
}
