import { CorruptDataError } from '../codec/errors.ts'
import { ChainStoreError } from '../errors.ts'
import type { DamagedTable } from './tables.ts'

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
/**
 * LevelDB table files of the data dir fail their checksums (storage/tables.ts):
 * the store does not open on them, since LevelDB would read the damage as
 * data and can abort the process compacting it. `chainstore verify --repair`
 * sets them aside, salvages their sound blocks and fetches back the rest.
 */
export class DamagedTablesError extends CorruptDataError {
  readonly tables: DamagedTable[]
  constructor (message: string, tables: DamagedTable[]) {
    super(message)
    this.tables = tables
  }
}
