import { ChainStoreError } from '../errors.ts'

/** Where in a backup a problem sits: the backup, the file, the block's position and CID. */
export interface BackupErrorDetail {
  backup?: string
  file?: string
  /** Position of the block in its CAR file (0 = first block after the header). */
  block?: number
  cid?: string
  /** The destination (its URL, without credentials) the backup was read from or written to. */
  destination?: string
}

/** Base of every backup refusal; the subclass names what is wrong, `detail` where. */
export class BackupError extends ChainStoreError {
  readonly detail: BackupErrorDetail
  constructor (message: string, detail: BackupErrorDetail = {}, options?: { cause?: unknown }) {
    super(message, options)
    this.detail = detail
  }
}
/** A block whose bytes do not hash to its CID (a bit flip), bytes that are not CAR data, or a file whose sha256 differs from the manifest's. */
export class BackupCorruptError extends BackupError {}
/** A CAR file that ends inside a block or holds fewer blocks than its manifest counts. */
export class BackupTruncatedError extends BackupError {}
/** Blocks out of the written order: a block before any block that links to it, headers out of height order, a duplicate. */
export class BackupOrderError extends BackupError {}
/** A DAG with a block missing: a header's page, a state trie node, a pinned DAG's block. */
export class BackupIncompleteError extends BackupError {}
/** A manifest that is missing, does not decode, or disagrees with the files (counts, roots, heights). */
export class BackupManifestError extends BackupError {}
/** The manifest chain is broken: an incremental backup whose previous manifest is missing or does not connect. */
export class BackupChainError extends BackupError {}
/** No backup directory, or no backup with that id. */
export class BackupNotFoundError extends BackupError {}
/** The store moved in a way an incremental backup cannot express (the previous backup's head is no longer canonical). */
export class BackupBaseMismatchError extends BackupError {}
/** Restore into a store or data dir that already holds a chain. */
export class RestoreTargetNotEmptyError extends BackupError {}
/** A restore height outside what the backups hold, or other bad options. */
export class InvalidBackupOptionsError extends BackupError {}

/**
 * A destination could not be used: the base of the destination errors. The
 * message names the destination by its URL (`s3://bucket/prefix`), never a
 * credential; `cause` is a summary of the SDK's error (name, code, status),
 * not the SDK's error object, which carries request headers and URLs.
 */
export class BackupDestinationError extends BackupError {
  /** Marks an I/O failure for the CAR reader (it passes errors with a `code` through as they are). */
  readonly code: string = 'ERR_BACKUP_DESTINATION'
  readonly destination: string
  constructor (message: string, destination: string, detail: BackupErrorDetail = {}, options?: { cause?: unknown }) {
    super(message, { ...detail, destination }, options)
    this.destination = destination
  }
}
/** A destination URL or its options are malformed (unknown scheme, no bucket name, an option of another kind of destination). */
export class InvalidDestinationError extends BackupDestinationError {}
/** The SDK a destination needs is not installed (they are optional peer dependencies); `packageName` says which. */
export class DestinationPackageMissingError extends BackupDestinationError {
  readonly packageName: string
  constructor (packageName: string, destination: string, options?: { cause?: unknown }) {
    super(`destination ${destination} needs the package ${packageName}, which is not installed: npm install ${packageName}`, destination, {}, options)
    this.packageName = packageName
  }
}
/** The destination refused the credentials (wrong or missing key, expired token, no permission). */
export class DestinationAuthError extends BackupDestinationError {}
/** The bucket or container does not exist. */
export class DestinationNotFoundError extends BackupNotFoundError {
  readonly code: string = 'ERR_BACKUP_DESTINATION'
  readonly destination: string
  constructor (message: string, destination: string, options?: { cause?: unknown }) {
    super(message, { destination }, options)
    this.destination = destination
  }
}
/** The destination could not be reached or failed the request (connection refused or reset, timeout, a 5xx). */
export class DestinationUnavailableError extends BackupDestinationError {}
/** An object the destination was asked for does not exist (a CAR a manifest lists, a manifest). */
export class DestinationObjectNotFoundError extends BackupDestinationError {}
/** Every destination a restore could use failed; `attempts` names each and why. */
export class RestoreFailedError extends BackupError {
  readonly attempts: BackupAttempt[]
  constructor (message: string, attempts: BackupAttempt[]) {
    super(message)
    this.attempts = attempts
  }
}

/** One destination a restore (or a multi-destination verify) could not use: its name and the typed error. */
export interface BackupAttempt {
  destination: string
  error: string
  message: string
  detail: BackupErrorDetail
}
