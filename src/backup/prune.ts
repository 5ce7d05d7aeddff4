import { openDestination } from './destinations/index.ts'
import { MANIFEST_FILE } from './constants.ts'
import { InvalidBackupOptionsError } from './errors.ts'
import { keyOf, scanBackups } from './manifest.ts'
import type { BackupDestination, BackupInfo, BackupTarget } from './types.ts'

/** What {@link pruneBackups} did (or, with `dryRun`, would do). */
export interface PruneResult {
  destination: string
  /** Backups kept: the newest `keep` and every backup they depend on. */
  kept: string[]
  /** Backups deleted, oldest first. */
  deleted: string[]
  /** Ids of uploads that never got a manifest (cut short), older than the newest backup, whose objects were deleted. */
  orphans: string[]
}

/**
 * The retention rule: the newest `keep` backups stay, and so does every
 * backup one of them depends on (an incremental needs its chain back to
 * the full backup it starts from); everything else goes. So a chain is
 * deleted only as a whole, once no kept backup builds on it, and the
 * count can be exceeded by the rest of the newest chains (take a full
 * backup every so often: config backup.schedule.fullEvery).
 */
export function retention (list: BackupInfo[], keep: number): { keep: BackupInfo[], drop: BackupInfo[] } {
  if (!Number.isSafeInteger(keep) || keep < 1) throw new InvalidBackupOptionsError(`keep: expected a count of at least 1, got ${String(keep)}`)
  const sorted = [...list].sort((a, b) => a.manifest.created - b.manifest.created || (a.id < b.id ? -1 : 1))
  const byCid = new Map(sorted.map(b => [b.manifestCid.toString(), b]))
  const kept = new Set<BackupInfo>()
  for (const b of sorted.slice(-keep)) {
    // follow the chain as far as it is there: a broken link protects nothing more, and deletes nothing
    for (let cur: BackupInfo | undefined = b; cur != null && !kept.has(cur); cur = cur.manifest.previous == null ? undefined : byCid.get(cur.manifest.previous.toString())) kept.add(cur)
  }
  return { keep: sorted.filter(b => kept.has(b)), drop: sorted.filter(b => !kept.has(b)) }
}

/** Deletes one backup: the manifest first (from then on it is not listed), then its other objects. */
async function deleteBackup (dest: BackupDestination, id: string, options: { signal?: AbortSignal }): Promise<void> {
  await dest.delete([keyOf(id, MANIFEST_FILE)], options)
  const rest: string[] = []
  for await (const o of dest.list(`${id}/`, options)) rest.push(o.key)
  if (rest.length > 0) await dest.delete(rest, options)
}

/**
 * Applies the retention rule ({@link retention}) at a destination, and
 * removes what uploads cut short left behind (objects of an id with no
 * manifest, older than the newest backup: a create still running is always
 * newer). `dryRun` only says what would go.
 */
export async function pruneBackups (from: BackupTarget, keep: number, options: { dryRun?: boolean, signal?: AbortSignal } = {}): Promise<PruneResult> {
  const dest = await openDestination(from)
  try {
    const list = await scanBackups(dest, { signal: options.signal })
    const { keep: kept, drop } = retention(list, keep)
    const complete = new Set(list.map(b => b.id))
    const newest = list.map(b => b.id).sort().at(-1)
    const orphanIds = new Set<string>()
    for await (const o of dest.list('', options)) {
      const id = o.key.split('/')[0]
      if (!complete.has(id) && o.key.includes('/') && newest != null && id < newest && !id.endsWith('.partial')) orphanIds.add(id)
    }
    // ids the list could not read (a damaged manifest) are neither kept nor orphans: left alone
    const damaged = new Set<string>()
    for await (const o of dest.list('', options)) if (o.key.endsWith(`/${MANIFEST_FILE}`) && !complete.has(o.key.split('/')[0])) damaged.add(o.key.split('/')[0])
    const orphans = [...orphanIds].filter(id => !damaged.has(id)).sort()
    if (options.dryRun !== true) {
      for (const b of drop) await deleteBackup(dest, b.id, options)
      for (const id of orphans) await deleteBackup(dest, id, options)
    }
    return { destination: dest.name, kept: kept.map(b => b.id), deleted: drop.map(b => b.id), orphans }
  } finally {
    if (dest !== from) await dest.close()
  }
}
