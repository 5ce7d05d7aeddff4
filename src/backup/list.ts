import { openDestination } from './destinations/index.ts'
import { scanBackups } from './manifest.ts'
import type { BackupInfo, BackupTarget } from './types.ts'

/** The backups at a destination whose manifests read, oldest first (BackupNotFoundError when a local directory does not exist, DestinationNotFoundError when a bucket or container does not). */
export async function listBackups (from: BackupTarget, options: { signal?: AbortSignal } = {}): Promise<BackupInfo[]> {
  const dest = await openDestination(from)
  try {
    return await scanBackups(dest, options)
  } finally {
    if (dest !== from) await dest.close()
  }
}
