import type { RootDb } from '../storage/level.ts'
import type { WriteBatch } from '../storage/types.ts'

/** What a step may use: the database to read, and progress. */
export interface MigrationContext {
  db: RootDb
  progress: (done: number, total: number) => void
  signal?: AbortSignal
}

/**
 * One schema step, `to - 1` → `to`. `run` adds every write to `batch`; the
 * runner adds the new version to the same batch and writes it once, so a
 * step is all or nothing (a crash leaves the store at the version before).
 * A step whose writes would not fit one batch must be idempotent and
 * resumable instead (write in chunks, version last) and say so.
 */
export interface Migration {
  to: number
  name: string
  run: (batch: WriteBatch, ctx: MigrationContext) => Promise<void>
}
