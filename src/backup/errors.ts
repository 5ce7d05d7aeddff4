import { ChainStoreError } from '../errors.ts'

/** Where in a backup a problem sits: the backup, the file, the block's position and CID. */
export interface BackupErrorDetail {
  backup?: string
  file?: string
  /** Position of the block in its CAR file (0 = first block after the header). */
  block?: number
  cid?: string
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
