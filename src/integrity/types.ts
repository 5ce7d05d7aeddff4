import type { CID } from 'multiformats/cid'
import type { MaintenanceAccess } from '../storage/level.ts'
import type { DamagedTable } from '../storage/tables.ts'

/** Kinds of problem a check finds. */
export const FINDING_KINDS = [
  'corrupt-block', 'unreadable', 'storage-corruption', 'missing-block', 'missing-index', 'dangling-index',
  'index-mismatch', 'incomplete-pin', 'head-mismatch', 'missing-state-node', 'corrupt-record', 'missing-height', 'lost-writes',
  'damaged-table'
] as const
export type FindingKind = typeof FINDING_KINDS[number]

/** One problem: what, and where. */
export interface Finding {
  kind: FindingKind
  message: string
  cid?: string
  height?: number
}

/** Progress of a check or repair: phase and counts so far. */
export type IntegrityProgress = (p: { phase: string, done: number, total?: number }) => void

/** Options of {@link verifyStore}. */
export interface VerifyStoreOptions {
  /** Refetch bad or missing blocks (peers, then gateways; verified) and rebuild indexes from blocks. */
  repair?: boolean
  /** With `repair`: rebuild every canonical index entry from blocks even where no problem was found (address and log entries that were deleted are only found this way). */
  reindex?: boolean
  onProgress?: IntegrityProgress
  signal?: AbortSignal
  /** Findings listed in the summary (counts cover all). Default 1000. */
  maxFindings?: number
}

/** What a check found (and with `repair`, what it fixed and what it could not). */
export interface IntegritySummary {
  storeId: string | null
  blocks: number
  bytes: number
  heights: number
  pins: number
  /** Findings by kind, before any repair. */
  counts: Partial<Record<FindingKind, number>>
  problems: number
  findings: Finding[]
  repaired: boolean
  /** Problems gone after the repair (re-checked). */
  fixed: number
  /** Problems still there after the repair (re-checked), by kind, and the first of them. */
  unfixedCounts: Partial<Record<FindingKind, number>>
  unfixed: Finding[]
  /** Blocks refetched and written back; blocks that no peer or gateway returned. */
  refetched: number
  refetchFailed: Array<{ cid: string, reason: string }>
  /** Canonical heights reindexed from their blocks. */
  reindexed: number
  /** LevelDB table files checked (every block's CRC) and found damaged. */
  tables: { checked: number, bytes: number, damaged: number }
  /** Damaged tables set aside before this run and what was salvaged of them (`chainstore verify --repair`). */
  salvage?: TableSalvage
  ms: number
}

/** What integrity repair needs of a store beyond maintenance: network reads and verified block writes (a ChainStore fits). */
export interface RepairableStore {
  maintenance: () => MaintenanceAccess
  config: { dataDir: string, limits: import('../codec/types.ts').CodecLimits, allowGaps?: boolean }
  getBytes: (cid: CID, options?: { signal?: AbortSignal, timeoutMs?: number }) => Promise<Uint8Array>
  putVerifiedBlocks: (blocks: Array<{ cid: CID, bytes: Uint8Array }>) => Promise<void>
}

/** What setting damaged tables aside kept of them. */
export interface TableSalvage {
  /** Where the damaged tables went (`<dataDir>/damaged/<time>/`). */
  dir: string
  tables: DamagedTable[]
  /** Blocks read back from their sound data blocks, verified against their CID and written back. */
  salvaged: number
  /** Blocks the store held again already (another copy survived elsewhere). */
  present: number
  /** Entries under the blockstore's keys whose bytes do not hash to their CID: dropped. */
  refused: number
}
