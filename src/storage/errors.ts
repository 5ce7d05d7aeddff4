import { ChainStoreError } from '../errors.ts'

/** No block at that height or with that CID. */
export class BlockNotFoundError extends ChainStoreError {}
/** The store was stopped; open a new one. */
export class StoreClosedError extends ChainStoreError {}
/** Another process holds the data directory. */
export class StoreLockedError extends ChainStoreError {}
/** The data directory cannot be written (a read-only mount, `chattr +i`, no write permission). */
export class StoreReadOnlyError extends ChainStoreError {}
/** The data directory path cannot be a directory (a file is in the way, a name too long). */
export class InvalidDataDirError extends ChainStoreError {}
/** A command that only reads was pointed at a data directory that holds no store. */
export class DataDirNotFoundError extends ChainStoreError {}
/** The data directory could not be opened for a reason other than a lock. */
export class StoreOpenError extends ChainStoreError {}
/** Arguments of a query are out of range (limits, height ranges, topics). */
export class InvalidQueryError extends ChainStoreError {}
/** A write to LevelDB failed; nothing of the batch was applied. */
export class WriteFailedError extends ChainStoreError {}
