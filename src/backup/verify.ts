import { readCar } from './car.ts'
import { decodePins, verifyFile, withDestination, type ChainVerifyState } from './verify-file.ts'
import { bytesMatchCid } from '../codec/cid.ts'
import { openDestination } from './destinations/index.ts'
import { BackupCorruptError, BackupManifestError, BackupTruncatedError } from './errors.ts'
import { backupIds, chainOf, findBackup, keyOf, readManifest, scanBackups } from './manifest.ts'
import type { BackedUpPin, BackupDestination, BackupInfo, BackupTarget, VerifyBackupOptions, VerifyBackupResult } from './types.ts'

export { verifyFile, type ChainVerifyState } from './verify-file.ts'

/** The pin list of a pins.car (its first block, the root), checked against its CID. */
export async function readPinsIndex (dest: BackupDestination, backup: string, file: string): Promise<BackedUpPin[]> {
  const controller = new AbortController()
  try {
    const car = await readCar(dest.read(keyOf(backup, file), { signal: controller.signal }), backup, file)
    for await (const { cid, bytes, index } of car.blocks()) {
      const where = { backup, file, block: index, cid: cid.toString(), destination: dest.name }
      if (!cid.equals(car.roots[0]) || !bytesMatchCid(cid, bytes)) throw new BackupCorruptError(`backup ${backup}: ${file} does not start with its checked pins index`, where)
      return decodePins(bytes, where, `backup ${backup}: ${file}`)
    }
  } catch (err) {
    throw withDestination(err, dest)
  } finally {
    // only the first block is needed: stop the download
    controller.abort()
  }
  throw new BackupTruncatedError(`backup ${backup}: ${file} holds no blocks`, { backup, file, destination: dest.name })
}

/** Verifies a chain of backups (full first) in order; returns per-backup counts. */
export async function verifyChain (dest: BackupDestination, chain: BackupInfo[], options: VerifyBackupOptions = {}): Promise<VerifyBackupResult> {
  const started = performance.now()
  const ctx: ChainVerifyState = { known: new Set(), done: 0, bytes: 0, total: chain.reduce((n, b) => n + b.manifest.blocks, 0), onProgress: options.onProgress, signal: options.signal }
  const out: VerifyBackupResult['backups'] = []
  let prev: BackupInfo | undefined
  for (const b of chain) {
    const base = prev?.manifest.head?.cid ?? null
    let blocks = 0
    let bytes = 0
    const kinds = b.manifest.files.map(f => f.kind)
    if (new Set(kinds).size !== kinds.length) throw new BackupManifestError(`backup ${b.id}: the manifest lists a file kind twice`, { backup: b.id })
    if ((b.manifest.from != null) !== kinds.includes('chain')) throw new BackupManifestError(`backup ${b.id}: the manifest's height range and its files disagree`, { backup: b.id })
    // state before pins: a state root pinned for a user is then known
    for (const kind of ['chain', 'state', 'pins'] as const) {
      const f = b.manifest.files.find(x => x.kind === kind)
      if (f == null) continue
      const r = await verifyFile(dest, b, f, ctx, base)
      blocks += r.blocks
      bytes += r.bytes
    }
    if (blocks !== b.manifest.blocks || b.manifest.files.reduce((n, f) => n + f.bytes, 0) !== b.manifest.bytes) {
      throw new BackupManifestError(`backup ${b.id}: the manifest counts ${b.manifest.blocks} blocks / ${b.manifest.bytes} bytes, its files ${blocks} blocks`, { backup: b.id })
    }
    out.push({ id: b.id, manifestCid: b.manifestCid, blocks, bytes })
    prev = b
  }
  ctx.onProgress?.({ phase: 'verify', done: ctx.done, total: ctx.total, bytes: ctx.bytes })
  return { backups: out, blocks: ctx.done, bytes: ctx.bytes, ms: performance.now() - started }
}

/**
 * Verifies the backup `id` (its name or manifest CID) and every backup its
 * manifest chain goes back through, or without `id` every backup at the
 * destination (a local directory path, a spec, or an opened destination).
 * Every byte is read back from the destination (streamed) and re-hashed.
 * Throws the first problem as a typed BackupError naming the destination,
 * backup, file, block and what is wrong.
 */
export async function verifyBackup (from: BackupTarget, id?: string, options: VerifyBackupOptions = {}): Promise<VerifyBackupResult> {
  const dest = await openDestination(from)
  try {
    const all = await scanBackups(dest, { signal: options.signal })
    if (id == null) {
      // a manifest that does not read is itself a finding
      await scanBackups(dest, { strict: true, signal: options.signal })
      const linked = new Set(all.map(b => b.manifest.previous?.toString()).filter(Boolean))
      const tips = all.filter(b => !linked.has(b.manifestCid.toString()))
      const result: VerifyBackupResult = { backups: [], blocks: 0, bytes: 0, ms: 0 }
      for (const tip of tips) {
        const r = await verifyChain(dest, chainOf(all, tip), options)
        for (const x of r.backups) if (!result.backups.some(y => y.id === x.id)) result.backups.push(x)
        result.blocks += r.blocks
        result.bytes += r.bytes
        result.ms += r.ms
      }
      return result
    }
    return await verifyChain(dest, chainOf(all, await resolveBackup(dest, all, id)), options)
  } finally {
    if (dest !== from) await dest.close()
  }
}

/** A backup by name (its manifest read, so a broken one throws its own error) or by manifest CID. */
export async function resolveBackup (dest: BackupDestination, list: BackupInfo[], id: string): Promise<BackupInfo> {
  if (/^[A-Za-z0-9._~-]+$/.test(id) && (await backupIds(dest)).includes(id)) return await readManifest(dest, id)
  return findBackup(list, id, dest.name)
}
