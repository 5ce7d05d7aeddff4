import type { RootDb } from '../storage/level.ts'
import type { BackupResult, MaintainedStore, RestoreResult } from './types.ts'

/** What an audit event says of a backup made: ids, counts, heights and where (no payload). */
export function createdDetail (r: BackupResult): Record<string, unknown> {
  const m = r.manifest
  return { id: r.id, destination: r.destination, manifest: r.manifestCid.toString(), kind: m.kind, blocks: m.blocks, bytes: m.bytes, head: m.head?.height ?? null }
}

/** What an audit event says of a restore. */
export function restoredDetail (r: RestoreResult): Record<string, unknown> {
  return { destination: r.destination, backups: r.backups, head: r.head?.height ?? null, blocks: r.blocks, bytes: r.bytes, skipped: r.skipped.map(s => ({ destination: s.destination, error: s.error })) }
}

/** A restore into a started store is recorded in its trail (a data dir's trail is written by {@link recordRestoreInto} while it is open). */
export async function recordRestore (target: string | MaintainedStore, r: RestoreResult): Promise<void> {
  if (typeof target !== 'string') target.audit?.append('backup.restored', restoredDetail(r))
}

/**
 * A restore into a data dir starts that node's audit trail: the event is
 * signed with the node key of the data dir (made there if it has none, as
 * the node's first start would).
 */
export async function recordRestoreInto (db: RootDb, dataDir: string, detail: Record<string, unknown>): Promise<void> {
  const [{ AuditLog }, { loadNodeKey }, { createLogger }] = await Promise.all([import('../audit/log.ts'), import('../node-key.ts'), import('../logger.ts')])
  const audit = await AuditLog.open({ db, key: await loadNodeKey(dataDir), sync: true, logger: createLogger({ level: 'silent' }) })
  audit.append('backup.restored', detail)
  await audit.close()
}
