import type { Logger } from '../logger.ts'
import { createBackups } from './create.ts'
import { openDestination } from './destinations/index.ts'
import { chainOf, scanBackups } from './manifest.ts'
import { pruneBackups, type PruneResult } from './prune.ts'
import type { BackupProgress, BackupResult, DestinationSpec, MaintainedStore } from './types.ts'

/** What scheduled backups report to the node's metrics (src/metrics). */
export interface BackupMetrics {
  /** One backup to one destination finished: `ok` or `failed`, with the bytes it wrote. */
  backupRun: (destination: string, outcome: 'ok' | 'failed', bytes: number) => void
  /** Backups retention deleted at a destination. */
  backupsPruned: (destination: string, count: number) => void
}

/** A destination of the schedule: its config name (the metrics label) and spec. */
export interface ScheduledDestination { name: string, spec: DestinationSpec }

/** Options of {@link BackupScheduler}. */
export interface BackupSchedulerInit {
  store: MaintainedStore
  destinations: ScheduledDestination[]
  /** Time between runs; null: only {@link BackupScheduler.runOnce}. */
  intervalMs: number | null
  /** A full backup once the destination's newest chain holds this many backups. */
  fullEvery: number
  metrics?: BackupMetrics
  logger: Logger
}

/** One destination's part of a run. */
export interface ScheduledOutcome {
  name: string
  destination: string
  kind?: 'full' | 'incremental'
  result?: BackupResult
  error?: { name: string, message: string }
  pruned?: PruneResult
  pruneError?: { name: string, message: string }
}

/**
 * Scheduled backups (config backup.schedule): every `intervalMs`, a backup
 * to each destination (incremental on the destination's newest backup, full
 * once its chain holds `fullEvery` backups or it holds none), then the
 * retention of each destination that has `keep`. Runs never overlap; a
 * failing destination is logged and counted, the others go on. The
 * timer is unref'd and `stop` waits for a run in flight.
 */
export class BackupScheduler {
  readonly name = 'backup-schedule'
  readonly #i: BackupSchedulerInit
  readonly #log: Logger
  #timer: NodeJS.Timeout | undefined
  #running: Promise<ScheduledOutcome[]> | null = null
  #stopping = false
  readonly #abort = new AbortController()

  constructor (init: BackupSchedulerInit) {
    this.#i = init
    this.#log = init.logger.child({ room: 'backup' })
  }

  start (): void {
    if (this.#i.intervalMs == null) return
    this.#timer = setInterval(() => { if (this.#running == null) void this.runOnce().catch(() => {}) }, this.#i.intervalMs)
    this.#timer.unref()
  }

  async stop (): Promise<void> {
    this.#stopping = true
    clearInterval(this.#timer)
    this.#abort.abort()
    await this.#running?.catch(() => {})
  }

  /** Runs one round now (or joins the one in flight). */
  async runOnce (options: { onProgress?: BackupProgress } = {}): Promise<ScheduledOutcome[]> {
    this.#running ??= this.#run(options).finally(() => { this.#running = null })
    return await this.#running
  }

  async #run (options: { onProgress?: BackupProgress }): Promise<ScheduledOutcome[]> {
    const signal = this.#abort.signal
    const outcomes: ScheduledOutcome[] = []
    const full: ScheduledDestination[] = []
    const incremental: ScheduledDestination[] = []
    for (const d of this.#i.destinations) {
      const kind = await this.#kindFor(d.spec, signal).catch(() => 'full' as const)
      ;(kind === 'full' ? full : incremental).push(d)
    }
    this.#log.info({ full: full.map(d => d.name), incremental: incremental.map(d => d.name) }, 'scheduled backup started')
    for (const [group, incrementalFlag] of [[incremental, true], [full, false]] as const) {
      if (group.length === 0) continue
      const results = await createBackups(this.#i.store, group.map(d => d.spec), { incremental: incrementalFlag, onProgress: options.onProgress, signal })
      for (const [i, r] of results.entries()) {
        const d = group[i]
        const o: ScheduledOutcome = { name: d.name, destination: r.destination, kind: incrementalFlag ? 'incremental' : 'full' }
        if (r.result != null) {
          o.result = r.result
          this.#i.metrics?.backupRun(d.name, 'ok', r.result.manifest.bytes)
          this.#log.info({ destination: d.name, id: r.result.id, kind: r.result.manifest.kind, bytes: r.result.manifest.bytes, ms: Math.round(r.result.ms) }, 'backup written')
        } else {
          o.error = { name: r.error?.name ?? 'Error', message: r.error?.message ?? String(r.error) }
          this.#i.metrics?.backupRun(d.name, 'failed', 0)
          this.#log.warn({ destination: d.name, error: o.error.name, message: o.error.message }, 'backup failed')
        }
        outcomes.push(o)
      }
    }
    for (const o of outcomes) {
      const keep = this.#i.destinations.find(d => d.name === o.name)?.spec.keep
      if (keep == null || o.result == null || this.#stopping) continue
      try {
        o.pruned = await pruneBackups(this.#i.destinations.find(d => d.name === o.name)!.spec, keep, { signal })
        if (o.pruned.deleted.length + o.pruned.orphans.length > 0) {
          this.#i.metrics?.backupsPruned(o.name, o.pruned.deleted.length)
          this.#log.info({ destination: o.name, deleted: o.pruned.deleted, orphans: o.pruned.orphans }, 'old backups deleted')
        }
      } catch (err) {
        o.pruneError = { name: (err as Error).name, message: (err as Error).message }
        this.#log.warn({ destination: o.name, error: o.pruneError.name, message: o.pruneError.message }, 'retention failed')
      }
    }
    return outcomes
  }

  /** Full when the destination holds no backup or its newest chain is `fullEvery` long; incremental otherwise. */
  async #kindFor (spec: DestinationSpec, signal: AbortSignal): Promise<'full' | 'incremental'> {
    const dest = await openDestination(spec)
    try {
      const list = await scanBackups(dest, { signal })
      const last = list.at(-1)
      if (last == null) return 'full'
      return chainOf(list, last).length >= this.#i.fullEvery ? 'full' : 'incremental'
    } finally {
      await dest.close()
    }
  }
}
