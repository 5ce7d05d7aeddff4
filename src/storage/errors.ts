import { ChainStoreError } from '../errors.ts'

/** No block at that height or with that CID. */
export class BlockNotFoundError extends ChainStoreError {}
/** No transaction with that id. */
export class TransactionNotFoundError extends ChainStoreError {}
/** The transaction exists but its block carried no receipts. */
export class ReceiptNotFoundError extends ChainStoreError {}
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
/** A block's parent is not stored and the config does not allow gaps. */
export class ParentNotFoundError extends ChainStoreError {}
/** A different block is already stored at that height. */
export class HeightConflictError extends ChainStoreError {}
/** A pagination cursor that this store did not hand out. */
export class InvalidCursorError extends ChainStoreError {}
/** Arguments of a query are out of range (limits, height ranges, topics). */
export class InvalidQueryError extends ChainStoreError {}
/** A write to LevelDB failed; nothing of the batch was applied. */
export class WriteFailedError extends ChainStoreError {}
/** Bytes read from a tier other than local storage did not hash to the CID asked for. */
export class BlockVerificationError extends ChainStoreError {}
