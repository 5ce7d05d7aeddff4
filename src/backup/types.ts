import type { CID } from 'multiformats/cid'
import type { CodecLimits } from '../codec/types.ts'
import type { MaintenanceAccess } from '../node/chainstore.ts'
import type { PinReason } from '../pinning/records.ts'

/** One CAR file of a backup, as its manifest records it. */
export interface BackupFile {
  name: string
  /** What the file holds. */
  kind: 'chain' | 'state' | 'pins'
  /** The CAR's single root (its index block). */
  root: CID
  /** sha256 of the whole file. */
  sha256: Uint8Array
  bytes: number
  blocks: number
}

/** The manifest: dag-cbor, its CID is the backup's identity in the chain of backups. */
export interface BackupManifest {
  type: string
  version: number
  kind: 'full' | 'incremental'
  /** ms since epoch. */
  created: number
  /** Store id (migration 2) of the store backed up, or null for a store without one. */
  storeId: string | null
  /** The manifest CID of the backup this one follows (incremental), or null. */
  previous: CID | null
  /** Canonical heights this backup holds: from..to inclusive; null when it holds none. */
  from: number | null
  to: number | null
  /** The head when the backup was taken. */
  head: { height: number, cid: CID } | null
  finalized: number
  /** State root at the state's head height (if the store holds state), and that height. */
  stateRoot: CID | null
  stateHeight: number | null
  /** Per-height state roots in this backup. */
  stateRoots: number
  /** IPLD blocks and bytes across the files (index blocks included). */
  blocks: number
  bytes: number
  files: BackupFile[]
}

/** A backup found in a directory. */
export interface BackupInfo {
  /** Directory name inside the backup root. */
  id: string
  dir: string
  manifestCid: CID
  manifest: BackupManifest
}

/** Progress of a backup operation: phase and counts so far (`total` when known). */
export type BackupProgress = (p: { phase: string, done: number, total?: number, bytes?: number }) => void

/** Options of {@link createBackup}. */
export interface CreateBackupOptions {
  /** Only what came since the newest backup in the directory (which it links). */
  incremental?: boolean
  onProgress?: BackupProgress
  signal?: AbortSignal
}

/** What {@link createBackup} wrote. */
export interface BackupResult extends BackupInfo {
  ms: number
}

/** Options of {@link verifyBackup}. */
export interface VerifyBackupOptions {
  onProgress?: BackupProgress
  signal?: AbortSignal
}

/** What {@link verifyBackup} checked. */
export interface VerifyBackupResult {
  backups: Array<{ id: string, manifestCid: CID, blocks: number, bytes: number }>
  blocks: number
  bytes: number
  ms: number
}

/** Options of {@link restoreBackup}. */
export interface RestoreBackupOptions {
  /** Point in time: blocks up to this height and the state root at it (default: everything). */
  height?: number
  /** The backup to restore up to (default: the newest). */
  id?: string
  /** Codec limits for rebuilding blocks (default: the target store's config, or the defaults). */
  limits?: CodecLimits
  onProgress?: BackupProgress
  signal?: AbortSignal
}

/** What {@link restoreBackup} wrote. */
export interface RestoreResult {
  head: { height: number, cid: CID } | null
  finalized: number
  blocks: number
  bytes: number
  heights: number
  stateRoots: number
  stateRoot: CID | null
  pins: number
  backups: string[]
  ms: number
}

/** A non-chain pin as a backup records it. */
export interface BackedUpPin {
  cid: CID
  reasons: PinReason[]
  deep: PinReason[]
  height?: number
}

/** What backup and integrity code need of a store: `store.maintenance()` and its codec limits (a ChainStore fits). */
export interface MaintainedStore {
  maintenance: () => MaintenanceAccess
  config: { limits: CodecLimits, dataDir: string }
  /** The store's audit trail, when it keeps one: a backup made is recorded there. */
  audit?: { append: (kind: 'backup.created', detail: Record<string, unknown>) => void } | null
}
