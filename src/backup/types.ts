import type { CID } from 'multiformats/cid'
import type { CodecLimits } from '../codec/types.ts'
import type { MaintenanceAccess } from '../storage/level.ts'
import type { PinReason } from '../pinning/records.ts'
import type { BackupAttempt } from './errors.ts'

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

/** A backup found at a destination. */
export interface BackupInfo {
  /** The backup's name at its destination (a directory, or a key prefix in a bucket). */
  id: string
  /** Where it is: the local directory, or `<destination URL>/<id>`. */
  dir: string
  /** The destination it was found at (its URL, without credentials). */
  destination: string
  manifestCid: CID
  manifest: BackupManifest
}

/** Progress of a backup operation: phase and counts so far (`total` when known). */
export type BackupProgress = (p: { phase: string, done: number, total?: number, bytes?: number }) => void

/** Options of {@link createBackup}. */
export interface CreateBackupOptions {
  /**
   * Only what came since the newest backup at the destination (which it
   * links). `'auto'`: incremental where the destination holds a backup to
   * build on, full where it holds none.
   */
  incremental?: boolean | 'auto'
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
  /** The destination restored from (its URL). */
  destination: string
  /** Destinations tried first and given up on (down, or holding a corrupt or incomplete copy), in order. */
  skipped: BackupAttempt[]
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
  /** The store's audit trail, when it keeps one: a backup made (or a restore into this store) is recorded there. */
  audit?: { append: (kind: 'backup.created' | 'backup.restored', detail: Record<string, unknown>) => void } | null
}

/** One object at a destination: its key (relative to the destination's prefix, `/`-separated) and size. */
export interface BackupObject {
  key: string
  bytes: number
}

/** Options every destination call takes. */
export interface DestinationCallOptions {
  signal?: AbortSignal
}

/**
 * Where backups live: a local directory, an S3-compatible bucket, an Azure
 * Blob container (src/backup/destinations/). Keys are `<backup id>/<file>`,
 * relative to the destination's own prefix. The rules every implementation
 * keeps (test/compliance/backup-destination.ts checks them):
 *
 * - `write` consumes `body` as it comes (a CAR larger than memory is never
 *   held whole: multipart above the part size) and the object appears whole
 *   or not at all, only once `write` resolves;
 * - `read` streams the object's bytes; a missing object is
 *   DestinationObjectNotFoundError; the caller verifies every byte;
 * - `list` yields every whole object under a key prefix;
 * - a backup exists once its `manifest.cbor` does, and the manifest is
 *   written last (after every CAR it lists): a half-finished upload is never
 *   listed as a backup; deleting removes the manifest first;
 * - errors are typed (DestinationAuthError, DestinationNotFoundError,
 *   DestinationUnavailableError, ...) and name the destination by its URL,
 *   never a credential.
 */
export interface BackupDestination {
  /** The destination's URL without credentials (`/backups/node1`, `s3://bucket/prefix`, `azure://container/prefix`): what messages, logs and metrics name it by. */
  readonly name: string
  readonly kind: 'dir' | 's3' | 'azure'
  /** Makes the destination ready for writing where that is the destination's own business (a local directory is created; a bucket or container is never created). */
  prepare?: () => Promise<void>
  list: (prefix: string, options?: DestinationCallOptions) => AsyncIterable<BackupObject>
  write: (key: string, body: AsyncIterable<Uint8Array>, options?: DestinationCallOptions) => Promise<{ bytes: number }>
  read: (key: string, options?: DestinationCallOptions) => AsyncIterable<Uint8Array>
  delete: (keys: string[], options?: DestinationCallOptions) => Promise<void>
  /** Releases the SDK client's sockets. */
  close: () => Promise<void>
}

/**
 * A destination as config `backup.destinations` (or a `--to` URL) names it:
 * the URL, and per kind the endpoint and which environment variables hold
 * the credentials (never a credential itself). Unset fields fall back to
 * each SDK's usual environment.
 */
export interface DestinationSpec {
  /** A short name (metrics label, `--to <name>`); default: the URL. */
  name?: string
  /** `/path`, `file:///path`, `s3://bucket[/prefix]` or `azure://container[/prefix]`. */
  url: string
  /** Retention: backups kept at this destination by `pruneBackups` and the schedule (null: all). */
  keep?: number | null
  /** S3: endpoint of an S3-compatible service (default: AWS, or AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL). */
  endpoint?: string
  /** S3: region (default: AWS_REGION, AWS_DEFAULT_REGION, else us-east-1). */
  region?: string
  /** S3: path-style addressing (`endpoint/bucket/key`); default true when an endpoint is set. */
  forcePathStyle?: boolean
  /** S3: names of environment variables holding the keys (default: the SDK's chain: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, profiles, ...). */
  accessKeyIdEnv?: string
  secretAccessKeyEnv?: string
  sessionTokenEnv?: string
  /** S3: send CRC checksums only where an operation requires them (`when-required`, what most S3-compatible services accept) or wherever the SDK can. */
  checksums?: 'when-required' | 'when-supported'
  /** Azure: the account's blob endpoint (default `https://<account>.blob.core.windows.net`). */
  accountUrl?: string
  /** Azure: account name (default: AZURE_STORAGE_ACCOUNT). */
  accountName?: string
  /** Azure: names of environment variables holding a connection string (default AZURE_STORAGE_CONNECTION_STRING), an account key (default AZURE_STORAGE_KEY) or a SAS token (default AZURE_STORAGE_SAS_TOKEN). */
  connectionStringEnv?: string
  accountKeyEnv?: string
  sasTokenEnv?: string
  /** Bytes per uploaded part (S3 multipart part, Azure block). */
  partBytes?: number
  /** Parts uploaded at once per object (memory: about partBytes × queueSize per destination). */
  queueSize?: number
}

/** A destination as the backup functions take it: a local directory path, a spec, or an opened destination. */
export type BackupTarget = string | DestinationSpec | BackupDestination

/** What {@link createBackups} did at one destination: the backup written, or why not. */
export interface DestinationBackupResult {
  destination: string
  result?: BackupResult
  error?: Error
}

