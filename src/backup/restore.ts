import { parseConfig } from '../config/index.ts'
import { runMigrations } from '../migrations/index.ts'
import { openLevel, type BlocksDb, type RootDb, type StoreBatch } from '../storage/level.ts'
import { BackupNotFoundError, InvalidBackupOptionsError } from './errors.ts'
import { chainOf, scanBackups } from './manifest.ts'
import { RestoreRun } from './restore-into.ts'
import type { MaintainedStore, RestoreBackupOptions, RestoreResult } from './types.ts'
import { resolveBackup, verifyChain } from './verify.ts'

/**
 * Restores a chain of backups (the full one, then each incremental up to
 * `id`, default the newest) into an empty store or data dir. With `height`,
 * a point in time: the canonical blocks up to it, the state roots up to it
 * (the state at it), the pins of the backup that covers it. The backups are
 * verified first (every block, every DAG, the manifest chain); a bad one is
 * refused before anything is written. Blocks are written, then indexed from
 * their own bytes (indexes are rebuilt, never copied); chain blocks are
 * pinned as the backup held them (whole, or header only), state roots are
 * pinned for `state`, blob and user pins come back as they were.
 */
export async function restoreBackup (dir: string, target: string | MaintainedStore, options: RestoreBackupOptions = {}): Promise<RestoreResult> {
  const started = performance.now()
  const all = await scanBackups(dir)
  const last = options.id != null ? await resolveBackup(dir, all, options.id) : all[all.length - 1]
  if (last == null) throw new BackupNotFoundError(`no backup in ${dir}`)
  let chain = chainOf(all, last)
  const height = options.height
  if (height != null) {
    if (!Number.isSafeInteger(height) || height < 0) throw new InvalidBackupOptionsError(`height: expected a non-negative integer, got ${String(height)}`)
    const top = last.manifest.to
    if (top == null || height > top) throw new InvalidBackupOptionsError(`height ${height}: the backups hold heights up to ${String(top)}`)
    chain = chain.filter(b => b.manifest.from == null || b.manifest.from <= height)
  }
  await verifyChain(chain, { onProgress: options.onProgress, signal: options.signal })
  const limits = options.limits ?? (typeof target === 'string' ? parseConfig({}).limits : target.config.limits)
  const run = async (db: RootDb, blocks: BlocksDb, sync: boolean): Promise<RestoreResult> => {
    const r = await new RestoreRun(db, blocks, sync, height ?? Infinity, limits, options).run(chain)
    return { ...r, ms: performance.now() - started }
  }
  if (typeof target === 'string') {
    const config = parseConfig({ dataDir: target })
    const { db, blocks } = await openLevel(target, config.level)
    try {
      await runMigrations(db)
      return await run(db, blocks, true)
    } finally {
      await db.close()
    }
  }
  const m = target.maintenance()
  try {
    return await m.exclusive(async () => await run(m.db, m.blocks, m.sync))
  } finally {
    await m.afterRepair()
  }
}

export type { StoreBatch }
