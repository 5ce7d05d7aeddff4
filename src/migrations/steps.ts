import { randomBytes } from 'node:crypto'
import { META_STORE_ID, STORE_ID_BYTES } from './constants.ts'
import { META_CHECKSUMS_AT, META_LOG_CHECKSUMS_AT, sealLogRecords, sealRecords } from './checksums.ts'
import { META_POSTINGS_CONVERTED, convertToPostings } from './postings.ts'
import type { Migration } from './types.ts'
import { convertToWindows } from './windows.ts'

export type { Migration, MigrationContext } from './types.ts'

/**
 * v2: the store records its schema version (absent before: version 1) and a
 * store id, 16 random bytes written once. Backups name the store they were
 * taken from and an incremental backup refuses to link to another store's
 * chain of backups; integrity reports name the store they checked.
 */
const storeIdentity: Migration = {
  to: 2,
  name: 'store-identity',
  async run (batch, ctx) {
    ctx.progress(0, 1)
    // idempotent: a store that somehow has an id keeps it
    if (ctx.db.getSync(META_STORE_ID) == null) batch.put(META_STORE_ID, new Uint8Array(randomBytes(STORE_ID_BYTES)))
    ctx.progress(1, 1)
  }
}

/**
 * v3: address history and the log indexes hold one posting list per key per
 * block instead of one key per transaction or log (fewer LevelDB puts per
 * transaction). Resumable, not one batch: see {@link convertToPostings}.
 */
const indexPostings: Migration = {
  to: 3,
  name: 'index-postings',
  async run (batch, ctx) {
    await convertToPostings(ctx)
    batch.del(META_POSTINGS_CONVERTED)
  }
}

/**
 * v4: transaction records and transaction id lists carry a CRC-32, so a
 * byte flipped on disk in these derived values (no CID to re-hash them
 * against) is a CorruptDataError, not a wrong answer. Resumable: see
 * {@link sealRecords}.
 */
const recordChecksums: Migration = {
  to: 4,
  name: 'record-checksums',
  async run (batch, ctx) {
    await sealRecords(ctx)
    batch.del(META_CHECKSUMS_AT)
  }
}

/**
 * v5: each block's log record (what `getLogs` answers from without reading
 * blocks) carries the same CRC-32. Resumable: see {@link sealLogRecords}.
 */
const logChecksums: Migration = {
  to: 5,
  name: 'log-checksums',
  async run (batch, ctx) {
    await sealLogRecords(ctx)
    batch.del(META_LOG_CHECKSUMS_AT)
  }
}

/**
 * v6: the address and log postings are grouped per window of 256 heights
 * (one key per address, log address or topic per window instead of per
 * block), the newest window held in memory by the open store. Resumable:
 * see {@link convertToWindows}.
 */
const windowPostings: Migration = {
  to: 6,
  name: 'window-postings',
  async run (_batch, ctx) {
    await convertToWindows(ctx)
  }
}

/** Every migration, in order; the last one's `to` is CURRENT_SCHEMA. */
export const MIGRATIONS: readonly Migration[] = [storeIdentity, indexPostings, recordChecksums, logChecksums, windowPostings]
