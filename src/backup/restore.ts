import { rm, stat } from 'node:fs/promises'
import { parseConfig } from '../config/index.ts'
import { runMigrations } from '../migrations/index.ts'
import { openLevel, type BlocksDb, type RootDb, type StoreBatch } from '../storage/level.ts'
import { openDestination } from './destinations/index.ts'
import { BackupError, BackupNotFoundError, InvalidBackupOptionsError, InvalidDestinationError, RestoreFailedError, RestoreTargetNotEmptyError, type BackupAttempt, type BackupErrorDetail } from './errors.ts'
import { chainOf, scanBackups } from './manifest.ts'
import { RestoreRun } from './restore-into.ts'
import type { BackupDestination, BackupInfo, BackupTarget, MaintainedStore, RestoreBackupOptions, RestoreResult } from './types.ts'
import { resolveBackup, verifyChain } from './verify.ts'
import { recordRestore, recordRestoreInto, restoredDetail } from './audit.ts'

/** Options of {@link restoreBackup} with several sources. */
export interface RestoreFailoverOptions extends RestoreBackupOptions {
  /** Told of each destination given up on before the next is tried. */
  onSkip?: (attempt: BackupAttempt) => void
}

/** Errors after which the next destination is tried: it is down, refuses us, or holds a copy that is missing, corrupt or incomplete. */
function failsOver (err: unknown): err is BackupError {
  return err instanceof BackupError && !(err instanceof RestoreTargetNotEmptyError) && !(err instanceof InvalidBackupOptionsError) && !(err instanceof InvalidDestinationError)
}

function attemptOf (dest: string, err: BackupError): BackupAttempt {
  return { destination: dest, error: err.name, message: err.message, detail: { ...err.detail } as BackupErrorDetail }
}

/** The chain of backups to restore from one destination, checked for the options. */
async function chainAt (dest: BackupDestination, options: RestoreBackupOptions): Promise<BackupInfo[]> {
  const all = await scanBackups(dest, { signal: options.signal })
  const last = options.id != null ? await resolveBackup(dest, all, options.id) : all[all.length - 1]
  if (last == null) throw new BackupNotFoundError(`no backup in ${dest.name}`, { destination: dest.name })
  let chain = chainOf(all, last)
  const height = options.height
  if (height != null) {
    if (!Number.isSafeInteger(height) || height < 0) throw new InvalidBackupOptionsError(`height: expected a non-negative integer, got ${String(height)}`)
    const top = last.manifest.to
    if (top == null || height > top) throw new InvalidBackupOptionsError(`height ${height}: the backups hold heights up to ${String(top)}`)
    chain = chain.filter(b => b.manifest.from == null || b.manifest.from <= height)
  }
  return chain
}

/**
 * Restores a chain of backups (the full one, then each incremental up to
 * `id`, default the newest) into an empty store or data dir. With `height`,
 * a point in time: the canonical blocks up to it, the state roots up to it
 * (the state at it), the pins of the backup that covers it. The backups are
 * verified first, streamed from the destination (every block, every DAG,
 * the manifest chain); a bad one is refused before anything is written.
 * Blocks are then streamed again, checked against their CIDs once more,
 * written, and indexed from their own bytes (indexes are rebuilt, never
 * copied); chain blocks are pinned as the backup held them, state roots for
 * `state`, blob and user pins come back as they were.
 *
 * `from` may list several destinations (copies of the same backups): the
 * first whose chain verifies is restored from. One that is down, refuses the
 * credentials or holds a missing, corrupt or incomplete copy is skipped and
 * reported (`skipped`, `onSkip`) and the next is tried; a read failing while
 * writing falls over too when the target is a data dir this restore created
 * (it is removed and written again). When every destination fails:
 * RestoreFailedError listing each (with one destination: its own error).
 */
export async function restoreBackup (from: BackupTarget | BackupTarget[], target: string | MaintainedStore, options: RestoreFailoverOptions = {}): Promise<RestoreResult> {
  const started = performance.now()
  const sources = Array.isArray(from) ? from : [from]
  if (sources.length === 0) throw new InvalidBackupOptionsError('restore: no destination to restore from')
  const skipped: BackupAttempt[] = []
  const fresh = typeof target === 'string' && await stat(target).then(() => false, () => true)
  for (const source of sources) {
    let dest: BackupDestination | undefined
    let writing = false
    try {
      dest = await openDestination(source)
      const chain = await chainAt(dest, options)
      await verifyChain(dest, chain, { onProgress: options.onProgress, signal: options.signal })
      writing = true
      const name = dest.name
      const r = await restoreChain(dest, chain, target, options, r => restoredDetail({ ...r, destination: name, skipped }))
      const result: RestoreResult = { ...r, destination: dest.name, skipped, ms: performance.now() - started }
      await recordRestore(target, result)
      return result
    } catch (err) {
      const name = dest?.name ?? (typeof source === 'string' ? source : 'url' in source ? source.url : source.name)
      if (sources.length === 1 || !failsOver(err)) throw err
      // a read failed while writing: start again from the next destination only into a data dir made here
      if (writing && !fresh) throw err
      if (writing) await rm(target as string, { recursive: true, force: true })
      const attempt = attemptOf(name, err)
      skipped.push(attempt)
      options.onSkip?.(attempt)
    } finally {
      if (dest != null && dest !== source) await dest.close()
    }
  }
  throw new RestoreFailedError(`restore: no destination could be restored from: ${skipped.map(a => `${a.destination}: ${a.error}: ${a.message}`).join('; ')}`, skipped)
}

/** Writes a verified chain into the target (a data dir, opened here, or a started store under its write lock). */
async function restoreChain (dest: BackupDestination, chain: BackupInfo[], target: string | MaintainedStore, options: RestoreBackupOptions, detail: (r: Omit<RestoreResult, 'destination' | 'skipped'>) => Record<string, unknown>): Promise<Omit<RestoreResult, 'destination' | 'skipped'>> {
  const height = options.height
  const limits = options.limits ?? (typeof target === 'string' ? parseConfig({}).limits : target.config.limits)
  const run = async (db: RootDb, blocks: BlocksDb, sync: boolean): Promise<Omit<RestoreResult, 'destination' | 'skipped'>> =>
    await new RestoreRun(db, blocks, sync, height ?? Infinity, limits, options).run(dest, chain)
  if (typeof target === 'string') {
    const config = parseConfig({ dataDir: target })
    const { db, blocks } = await openLevel(target, config.level)
    try {
      await runMigrations(db)
      const r = await run(db, blocks, true)
      if (config.audit.enabled) await recordRestoreInto(db, target, detail(r))
      return r
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
