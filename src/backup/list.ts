import { scanBackups } from './manifest.ts'
import type { BackupInfo } from './types.ts'

/** The backups in `dir` whose manifests read, oldest first (BackupNotFoundError when `dir` does not exist). */
export async function listBackups (dir: string): Promise<BackupInfo[]> {
  return await scanBackups(dir)
}
