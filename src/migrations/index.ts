import type { Logger } from '../logger.ts'
import { META_SCHEMA, readU32, writeU32 } from '../storage/keys.ts'
import type { RootDb } from '../storage/level.ts'
import { CURRENT_SCHEMA, META_STORE_ID, UNVERSIONED_SCHEMA } from './constants.ts'
import { CorruptSchemaError, MigrationFailedError, SchemaTooNewError } from './errors.ts'
import { MIGRATIONS, type Migration } from './steps.ts'

export { CURRENT_SCHEMA, META_STORE_ID, UNVERSIONED_SCHEMA } from './constants.ts'
export { CorruptSchemaError, MigrationFailedError, SchemaTooNewError } from './errors.ts'
export { MIGRATIONS, type Migration, type MigrationContext } from './steps.ts'

/** Progress of a migration run: the step, and its own counts. */
export type MigrationProgress = (p: { step: number, of: number, name: string, to: number, done: number, total: number }) => void

/** What a run did. */
export interface MigrationResult {
  from: number
  to: number
  applied: string[]
}

/** The schema version a store records (absent: {@link UNVERSIONED_SCHEMA}). */
export function readSchemaVersion (db: RootDb): number {
  const bytes = db.getSync(META_SCHEMA)
  if (bytes == null) return UNVERSIONED_SCHEMA
  if (bytes.length !== 4) throw new CorruptSchemaError(`schema version entry of ${bytes.length} bytes (expected 4)`)
  return readU32(bytes, 0)
}

/** The store's id as hex (written by migration 2), or null before it ran. */
export function readStoreId (db: RootDb): string | null {
  const bytes = db.getSync(META_STORE_ID)
  return bytes == null ? null : Buffer.from(bytes).toString('hex')
}

/** The schema version entry's value. */
export function encodeSchemaVersion (version: number): Uint8Array {
  const out = new Uint8Array(4)
  writeU32(out, 0, version)
  return out
}

/**
 * Brings a store's LevelDB to {@link CURRENT_SCHEMA}: each pending migration
 * in order, each in one batch with the version it reaches, so a crash leaves
 * the store at the last completed step and the next open resumes from
 * there. A store newer than this code is refused with SchemaTooNewError
 * before anything is written. Call it right after opening LevelDB, before
 * anything else reads or writes the store.
 */
export async function runMigrations (db: RootDb, options: { logger?: Logger, onProgress?: MigrationProgress, signal?: AbortSignal, sync?: boolean, migrations?: readonly Migration[], target?: number } = {}): Promise<MigrationResult> {
  const migrations = options.migrations ?? MIGRATIONS
  const target = options.target ?? CURRENT_SCHEMA
  const log = options.logger?.child({ room: 'migrations' })
  const from = readSchemaVersion(db)
  if (from > target) throw new SchemaTooNewError(from, target)
  const pending = migrations.filter(m => m.to > from && m.to <= target).sort((a, b) => a.to - b.to)
  // a new, empty store runs every step too (store id, markers): news only at debug
  const fresh = from === UNVERSIONED_SCHEMA && pending.length > 0 && await isEmpty(db)
  const applied: string[] = []
  let version = from
  for (const [i, m] of pending.entries()) {
    options.signal?.throwIfAborted()
    if (m.to !== version + 1) throw new MigrationFailedError(`no migration from schema ${version} to ${version + 1} (next known step: ${m.name} to ${m.to})`)
    const started = performance.now()
    const batch = db.batch()
    const writes = {
      put: (k: Uint8Array, v: Uint8Array) => { batch.put(k, v) },
      del: (k: Uint8Array) => { batch.del(k) },
      putBlock: () => { throw new MigrationFailedError(`migration ${m.name}: block writes go through the blockstore`) }
    }
    try {
      await m.run(writes, {
        db,
        signal: options.signal,
        progress: (done, total) => options.onProgress?.({ step: i + 1, of: pending.length, name: m.name, to: m.to, done, total })
      })
      batch.put(META_SCHEMA, encodeSchemaVersion(m.to))
      await batch.write({ sync: options.sync ?? true })
    } catch (err) {
      await batch.close().catch(() => {})
      if (err instanceof MigrationFailedError) throw err
      throw new MigrationFailedError(`migration ${m.name} (schema ${version} → ${m.to}) failed: ${(err as Error).message}; the store stays at schema ${version}`, { cause: err })
    }
    log?.[fresh ? 'debug' : 'info']({ migration: m.name, from: version, to: m.to, ms: Math.round(performance.now() - started) }, fresh ? 'migration applied to a new store' : 'migration applied')
    version = m.to
    applied.push(m.name)
  }
  return { from, to: version, applied }
}

async function isEmpty (db: RootDb): Promise<boolean> {
  for await (const _ of db.keys({ limit: 1 })) return false
  return true
}

/** What `ChainStore.open` calls on the freshly opened LevelDB, before Helia and replication start. */
export async function migrateOnOpen (db: RootDb, logger: Logger, sync = true): Promise<MigrationResult> {
  return await runMigrations(db, { logger, sync })
}
