import { RECORD_CRC_BYTES, sealRecord } from '../indexes/records.ts'
import { PREFIX, metaKey, prefixRange } from '../storage/keys.ts'
import type { RootDb } from '../storage/level.ts'
import type { MigrationContext } from './types.ts'

/** Records rewritten per chunk batch. */
const CHUNK = 5_000
/** The last key a chunk sealed (written with that chunk), so a re-run resumes after it instead of sealing twice. */
export const META_CHECKSUMS_AT = metaKey('migration-4-at')
/** The same marker for migration 5 (log records). */
export const META_LOG_CHECKSUMS_AT = metaKey('migration-5-at')

/**
 * Schema 3 → 4: every transaction record and every block's transaction id
 * list gets a CRC-32 trailer (see RECORD_CRC_BYTES in indexes/records.ts).
 * Not idempotent per record (a second trailer would break it), so the
 * rewrite goes in chunks in key order, each chunk's batch also recording its
 * last key: a crash mid-way resumes after the last chunk written.
 */
export async function sealRecords (ctx: MigrationContext): Promise<void> {
  await sealPrefixes(ctx, [PREFIX.BLOCK_TXIDS, PREFIX.TX], META_CHECKSUMS_AT)
}

/** Schema 4 → 5: every block's log record (LOG_BLOCK) gets the same CRC-32 trailer, resumable the same way. */
export async function sealLogRecords (ctx: MigrationContext): Promise<void> {
  await sealPrefixes(ctx, [PREFIX.LOG_BLOCK], META_LOG_CHECKSUMS_AT)
}

async function sealPrefixes (ctx: MigrationContext, prefixes: number[], marker: Uint8Array): Promise<void> {
  const { db } = ctx
  let resumeAfter = db.getSync(marker) ?? undefined
  ctx.progress(0, prefixes.length)
  for (let p = 0; p < prefixes.length; p++) {
    const range = prefixRange(Uint8Array.of(prefixes[p]))
    // a key of a later prefix in the marker means this one is done
    if (resumeAfter != null && resumeAfter[0] > prefixes[p]) continue
    const from = resumeAfter != null && resumeAfter[0] === prefixes[p] ? { gt: resumeAfter, lt: range.lt } : range
    await sealRange(db, from, marker, ctx)
    resumeAfter = undefined
    ctx.progress(p + 1, prefixes.length)
  }
}

async function sealRange (db: RootDb, range: { gt?: Uint8Array, gte?: Uint8Array, lt?: Uint8Array }, marker: Uint8Array, ctx: MigrationContext): Promise<void> {
  let batch = db.batch()
  let n = 0
  let last: Uint8Array | undefined
  const flush = async (): Promise<void> => {
    if (last == null) return
    batch.put(marker, last)
    await batch.write({ sync: true })
    batch = db.batch()
    last = undefined
  }
  for await (const [key, value] of db.iterator(range)) {
    ctx.signal?.throwIfAborted()
    const sealed = new Uint8Array(value.length + RECORD_CRC_BYTES)
    sealed.set(value)
    batch.put(key, sealRecord(sealed))
    last = key
    if (++n % CHUNK === 0) await flush()
  }
  await flush()
  await batch.close?.()
}
