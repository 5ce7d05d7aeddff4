import type { Command } from 'commander'
import { createBackups, listBackups, pruneBackups, restoreBackup, verifyBackup, BackupError, BackupScheduler, InvalidBackupOptionsError, type BackupProgress, type BackupResult, type DestinationSpec } from '../backup/index.ts'
import type { ChainStoreConfig } from '../config/index.ts'
import { salvageBlocks, setAsideTables, verifyStore, type IntegrityProgress, type IntegritySummary, type TableSalvage } from '../integrity/index.ts'
import { DamagedTablesError } from '../storage/errors.ts'
import type { DamagedTable } from '../storage/tables.ts'
import type { ChainStore } from '../node/chainstore.ts'
import { createLogger } from '../logger.ts'
import { formatBytes, formatCount } from './format.ts'
import { startProgress, type Progress } from './progress.ts'

/** What the maintenance commands take from the CLI's composition (src/cli/main.ts). */
export interface MaintenanceCliContext {
  /** Opens the store of the global options, runs `fn`, stops it. */
  withStore: <T>(fn: (store: ChainStore) => Promise<T>, overrides?: Record<string, unknown>) => Promise<T>
  /** The config of the global options (`-c`, `-d`, env). */
  config: () => Promise<ChainStoreConfig>
  /** Human text, or the JSON of `data` with `--json`. */
  print: (human: string, data: unknown) => void
}

/** Exit codes of these commands (same table as main.ts). */
export const MAINTENANCE_EXIT = { OK: 0, PROBLEMS: 1, USAGE: 2, NOT_FOUND: 3 } as const

/** A progress display per phase: a new bar (or line series) each time the phase changes. */
function phased (unit: string): { onProgress: BackupProgress & IntegrityProgress, stop: () => void } {
  let bar: Progress | undefined
  let phase = ''
  return {
    onProgress: p => {
      if (p.phase !== phase) { bar?.stop(); phase = p.phase; bar = startProgress(p.phase, Math.max(1, p.total ?? p.done), unit) }
      bar!.update(Math.min(p.done, p.total ?? p.done))
    },
    stop: () => { bar?.stop() }
  }
}

function parseHeight (raw: string | undefined): number | undefined {
  if (raw == null) return undefined
  if (!/^\d+$/.test(raw)) {
    const e = new Error(`--height: expected a non-negative integer, got ${raw}`)
    e.name = 'InvalidBackupOptionsError'
    throw e
  }
  return Number(raw)
}

/** A backup refusal is a finding: printed (with what and where) and exit code 1; not-found and bad input keep their own codes. */
function refusal (ctx: MaintenanceCliContext, err: unknown): boolean {
  if (!(err instanceof BackupError) || /NotFound|^Invalid/.test(err.name)) return false
  ctx.print(`REFUSED: ${err.name}: ${err.message}`, { ok: false, error: err.name, message: err.message, detail: err.detail })
  process.exitCode = MAINTENANCE_EXIT.PROBLEMS
  return true
}

/** A repair that began by setting damaged tables aside: they count as problems, fixed by the set-aside. */
function withSalvage (s: IntegritySummary, salvage: TableSalvage): IntegritySummary {
  const n = salvage.tables.length
  return {
    ...s,
    salvage,
    counts: { 'damaged-table': n, ...s.counts },
    problems: s.problems + n,
    fixed: s.fixed + n,
    repaired: true,
    findings: [...salvage.tables.map(t => ({ kind: 'damaged-table' as const, message: `LevelDB table ${t.file}: ${t.reason} (set aside in ${salvage.dir})` })), ...s.findings]
  }
}

function summaryText (s: IntegritySummary): string {
  const kinds = Object.entries(s.counts).map(([k, n]) => `    ${k.padEnd(20)} ${n}`)
  const left = Object.entries(s.unfixedCounts).map(([k, n]) => `    ${k.padEnd(20)} ${n}`)
  return [
    `checked     ${formatCount(s.blocks)} blocks (${formatBytes(s.bytes)}), ${formatCount(s.heights)} heights, ${formatCount(s.pins)} pins in ${Math.round(s.ms)} ms`,
    `problems    ${s.problems}`,
    ...kinds,
    ...s.findings.slice(0, 10).map(f => `    - ${f.message}`),
    ...(s.salvage != null ? [`set aside   ${s.salvage.tables.length} damaged table file(s) in ${s.salvage.dir}; salvaged ${s.salvage.salvaged} sound block(s) (${s.salvage.present} held elsewhere, ${s.salvage.refused} refused)`] : []),
    ...(s.repaired
      ? [
          `repair      refetched ${s.refetched} block(s), ${s.refetchFailed.length} not found on any peer or gateway; reindexed ${s.reindexed} height(s)`,
          `fixed       ${s.fixed}`,
          `unfixed     ${s.problems - s.fixed}`,
          ...left,
          ...s.unfixed.slice(0, 10).map(f => `    - ${f.message}`)
        ]
      : s.problems > 0 ? ['run verify --repair to fetch back what peers or gateways have and rebuild indexes'] : [])
  ].join('\n')
}

/** Repeated options (`--to a --to b`) collect into a list. */
function collect (value: string, list: string[]): string[] { return [...list, value] }

/**
 * The destinations a backup command works on: each `--to`/`--from` (and the
 * positional directory), by config name (backup.destinations, with its
 * endpoint and credential settings), by a URL config names, or as a URL or
 * path; none given: every destination in config.
 */
async function destinationsOf (ctx: MaintenanceCliContext, given: Array<string | undefined>): Promise<DestinationSpec[]> {
  const configured = (await ctx.config()).backup.destinations
  const named = given.filter((x): x is string => x != null && x !== '')
  if (named.length === 0) {
    if (configured.length === 0) throw new InvalidBackupOptionsError('no destination: give a directory or --to/--from <dir|s3://bucket/prefix|azure://container/prefix|config name>, or list destinations in config backup.destinations')
    return configured
  }
  return named.map(x => configured.find(d => d.name === x || d.url === x) ?? { url: x })
}

function createdText (r: BackupResult): string {
  const m = r.manifest
  return [
    `${m.kind} backup ${r.id} at ${r.destination}`,
    `  manifest  ${r.manifestCid.toString()}${m.previous != null ? ` (follows ${m.previous.toString()})` : ''}`,
    `  heights   ${m.from == null ? 'none new' : `${m.from}..${m.to}`}; head ${m.head?.height ?? '-'}; finalized ${m.finalized}`,
    `  state     ${m.stateRoot != null ? `${m.stateRoot.toString()} at ${m.stateHeight} (${m.stateRoots} roots in this backup)` : 'none'}`,
    `  files     ${m.files.map(f => `${f.name} ${formatBytes(f.bytes)} (${formatCount(f.blocks)} blocks)`).join(', ') || 'none'}`,
    `  took      ${Math.round(r.ms)} ms, ${formatBytes(m.bytes / Math.max(0.001, r.ms / 1000))}/s`
  ].join('\n')
}

/** A failed destination of a multi-destination command, as JSON. */
function failure (destination: string, err: unknown): Record<string, unknown> {
  const e = err as BackupError
  return { destination, ok: false, error: e?.name ?? 'Error', message: e?.message ?? String(err), ...(e?.detail != null ? { detail: e.detail } : {}) }
}

/** Adds `backup create|list|verify|restore|prune|run` and `verify [--repair]` to the chainstore command. */
export function registerMaintenanceCommands (program: Command, ctx: MaintenanceCliContext): void {
  const backup = program.command('backup').description('backups to local directories, S3-compatible buckets and Azure Blob containers: CARv1 files + a content-addressed manifest; full or incremental, verify, point-in-time restore with failover')
  const DEST_HELP = '<dir>, file:///dir, s3://bucket/prefix, azure://container/prefix, or a name in config backup.destinations (repeatable; default: every configured destination)'

  backup.command('create [dir]')
    .description('write a backup of the store to each destination (a new directory under <dir>, or a new prefix in the bucket)')
    .option('--to <destination>', DEST_HELP, collect, [])
    .option('--incremental', 'only what came since the newest backup at the destination (its manifest is linked)')
    .addHelpText('after', '\nExamples:\n  $ chainstore backup create /backups/node1\n  $ chainstore backup create --to s3://my-bucket/node1 --to azure://backups/node1 --incremental --json')
    .action(async (dir: string | undefined, opts: { to: string[], incremental?: boolean }) => {
      const specs = await destinationsOf(ctx, [dir, ...opts.to])
      const p = phased('items')
      const results = await ctx.withStore(async s => await createBackups(s, specs, { incremental: opts.incremental === true, onProgress: p.onProgress })).finally(p.stop)
      if (results.length === 1) {
        if (results[0].error != null) throw results[0].error
        ctx.print(createdText(results[0].result!), results[0].result)
        return
      }
      ctx.print(results.map(r => r.result != null ? createdText(r.result) : `REFUSED at ${r.destination}: ${r.error!.name}: ${r.error!.message}`).join('\n'),
        { ok: results.every(r => r.result != null), results: results.map(r => r.result != null ? { ok: true, ...r.result } : failure(r.destination, r.error)) })
      if (results.some(r => r.error != null)) process.exitCode = MAINTENANCE_EXIT.PROBLEMS
    })

  backup.command('list [dir]')
    .description('the backups at each destination, oldest first')
    .option('--from <destination>', DEST_HELP, collect, [])
    .action(async (dir: string | undefined, opts: { from: string[] }) => {
      const specs = await destinationsOf(ctx, [dir, ...opts.from])
      const line = (b: Awaited<ReturnType<typeof listBackups>>[number]): string => `${b.id}  ${b.manifest.kind.padEnd(11)}  ${b.manifest.from == null ? '-' : `${b.manifest.from}..${b.manifest.to}`}  ${formatCount(b.manifest.blocks)} blocks  ${formatBytes(b.manifest.bytes)}  ${b.manifestCid.toString()}`
      if (specs.length === 1) {
        const list = await listBackups(specs[0])
        ctx.print(list.length === 0 ? 'no backups' : list.map(line).join('\n'), list)
        return
      }
      const out: Array<Record<string, unknown>> = []
      const text: string[] = []
      for (const spec of specs) {
        try {
          const list = await listBackups(spec)
          out.push({ destination: list[0]?.destination ?? spec.url, ok: true, backups: list })
          text.push(`${spec.name ?? spec.url}:`, ...(list.length === 0 ? ['  no backups'] : list.map(b => '  ' + line(b))))
        } catch (err) {
          if (!(err instanceof BackupError)) throw err
          out.push(failure(spec.url, err))
          text.push(`${spec.name ?? spec.url}: ${err.name}: ${err.message}`)
          process.exitCode = MAINTENANCE_EXIT.PROBLEMS
        }
      }
      ctx.print(text.join('\n'), out)
    })

  backup.command('verify [dir] [id]')
    .description('re-hash every block of every CAR (read back from the destination), check each DAG and the manifest chain (of backup [id], or of all)')
    .option('--from <destination>', DEST_HELP, collect, [])
    .addHelpText('after', '\nExit code 1 when a backup is refused (the error names the destination, backup, file, block and what is wrong).\nExamples:\n  $ chainstore backup verify /backups/node1\n  $ chainstore backup verify --from s3://my-bucket/node1 --from azure://backups/node1')
    .action(async (dir: string | undefined, id: string | undefined, opts: { from: string[] }) => {
      // with --from, a lone positional is the backup id
      if (opts.from.length > 0 && dir != null && id == null) { id = dir; dir = undefined }
      const specs = await destinationsOf(ctx, [dir, ...opts.from])
      const p = phased('blocks')
      if (specs.length === 1) {
        try {
          const r = await verifyBackup(specs[0], id, { onProgress: p.onProgress }).finally(p.stop)
          ctx.print(`ok: ${r.backups.length} backup(s), ${formatCount(r.blocks)} blocks, ${formatBytes(r.bytes)} verified in ${Math.round(r.ms)} ms`, { ok: true, ...r })
        } catch (err) {
          if (!refusal(ctx, err)) throw err
        }
        return
      }
      const out: Array<Record<string, unknown>> = []
      const text: string[] = []
      try {
        for (const spec of specs) {
          try {
            const r = await verifyBackup(spec, id, { onProgress: p.onProgress })
            out.push({ destination: spec.url, ok: true, ...r })
            text.push(`ok: ${spec.name ?? spec.url}: ${r.backups.length} backup(s), ${formatCount(r.blocks)} blocks, ${formatBytes(r.bytes)} in ${Math.round(r.ms)} ms`)
          } catch (err) {
            if (!(err instanceof BackupError)) throw err
            out.push(failure(spec.url, err))
            text.push(`REFUSED: ${spec.name ?? spec.url}: ${err.name}: ${err.message}`)
          }
        }
      } finally { p.stop() }
      ctx.print(text.join('\n'), { ok: out.every(o => o.ok === true), results: out })
      if (out.some(o => o.ok !== true)) process.exitCode = MAINTENANCE_EXIT.PROBLEMS
    })

  backup.command('restore [dir]')
    .description('restore the backups (full, then each incremental) into an empty data dir (the global -d / config dataDir, or --target); with several destinations, the next is used when one is down or holds a corrupt copy')
    .option('--from <destination>', DEST_HELP, collect, [])
    .option('--height <h>', 'point in time: blocks up to h and the state root at h')
    .option('--id <id>', 'restore up to this backup (its name or manifest CID) instead of the newest')
    .option('--target <dataDir>', 'data dir to restore into (must hold no chain)')
    .addHelpText('after', '\nThe backups are verified first; a bad one is refused and nothing is written.\nExamples:\n  $ chainstore -d /var/lib/chainstore-new backup restore /backups/node1\n  $ chainstore backup restore --from s3://my-bucket/node1 --from /backups/node1 --height 12000 --target /tmp/at-12000')
    .action(async (dir: string | undefined, opts: { from: string[], height?: string, id?: string, target?: string }) => {
      const height = parseHeight(opts.height)
      const specs = await destinationsOf(ctx, [dir, ...opts.from])
      const target = opts.target ?? (await ctx.config()).dataDir
      const p = phased('blocks')
      try {
        const r = await restoreBackup(specs, target, { height, id: opts.id, onProgress: p.onProgress, onSkip: a => { process.stderr.write(`skipped ${a.destination}: ${a.error}: ${a.message}\n`) } }).finally(p.stop)
        ctx.print([
          `restored ${r.backups.length} backup(s) from ${r.destination} into ${target}`,
          ...r.skipped.map(a => `  skipped   ${a.destination}: ${a.error}`),
          `  head      ${r.head != null ? `${r.head.height} ${r.head.cid.toString()}` : 'none'}; finalized ${r.finalized}`,
          `  blocks    ${formatCount(r.blocks)} (${formatBytes(r.bytes)}), ${formatCount(r.heights)} heights indexed, ${r.pins} pins`,
          `  state     ${r.stateRoot != null ? `${r.stateRoot.toString()} (${r.stateRoots} roots)` : 'none'}`,
          `  took      ${Math.round(r.ms)} ms`
        ].join('\n'), { target, ...r })
      } catch (err) {
        if (!refusal(ctx, err)) throw err
      }
    })

  backup.command('prune [dir]')
    .description('retention: keep the newest --keep backups at each destination (default: its config keep) and every backup they depend on; delete the rest and what cut-short uploads left')
    .option('--from <destination>', DEST_HELP, collect, [])
    .option('--keep <n>', 'backups to keep per destination')
    .option('--dry-run', 'say what would be deleted, delete nothing')
    .action(async (dir: string | undefined, opts: { from: string[], keep?: string, dryRun?: boolean }) => {
      if (opts.keep != null && !/^[1-9]\d*$/.test(opts.keep)) throw new InvalidBackupOptionsError(`--keep: expected a count of at least 1, got ${opts.keep}`)
      const specs = await destinationsOf(ctx, [dir, ...opts.from])
      const out: Array<Record<string, unknown>> = []
      for (const spec of specs) {
        const keep = opts.keep != null ? Number(opts.keep) : spec.keep
        if (keep == null) throw new InvalidBackupOptionsError(`${spec.name ?? spec.url}: no --keep and no keep in config backup.destinations`)
        out.push({ ok: true, ...await pruneBackups(spec, keep, { dryRun: opts.dryRun === true }) })
      }
      ctx.print(out.map(r => `${String(r.destination)}: kept ${(r.kept as string[]).length}, ${opts.dryRun === true ? 'would delete' : 'deleted'} ${(r.deleted as string[]).length}${(r.deleted as string[]).length > 0 ? ` (${(r.deleted as string[]).join(', ')})` : ''}, ${(r.orphans as string[]).length} cut-short upload(s)`).join('\n'), out)
    })

  backup.command('run')
    .description('one round of the backup schedule now (config backup.schedule and backup.destinations): a backup to each destination, incremental or full as the schedule would, then retention')
    .action(async () => {
      const config = await ctx.config()
      const { schedule, destinations } = config.backup
      if (destinations.length === 0) throw new InvalidBackupOptionsError('config backup.destinations lists no destination')
      const names = schedule.destinations ?? destinations.map(d => d.name)
      const p = phased('items')
      const outcomes = await ctx.withStore(async store => {
        const s = new BackupScheduler({ store, destinations: destinations.filter(d => names.includes(d.name)).map(d => ({ name: d.name, spec: d })), intervalMs: null, fullEvery: schedule.fullEvery, logger: createLogger({ level: process.env.CHAINSTORE_LOG_LEVEL ?? 'warn', format: process.stderr.isTTY === true ? 'pretty' : 'json' }) })
        return await s.runOnce({ onProgress: p.onProgress })
      }).finally(p.stop)
      ctx.print(outcomes.map(o => o.result != null
        ? `${o.name}: ${o.result.manifest.kind} backup ${o.result.id} (${formatBytes(o.result.manifest.bytes)})${o.pruned != null ? `; retention deleted ${o.pruned.deleted.length}` : ''}${o.pruneError != null ? `; retention failed: ${o.pruneError.name}` : ''}`
        : `${o.name}: FAILED ${o.error!.name}: ${o.error!.message}`).join('\n'), outcomes.map(o => ({ ...o, ok: o.result != null })))
      if (outcomes.some(o => o.result == null)) process.exitCode = MAINTENANCE_EXIT.PROBLEMS
    })

  program.command('verify')
    .description('re-hash every stored block, check every index entry, pinned DAG, the head and the state root; --repair fixes what it can')
    .option('--repair', 'refetch bad or missing blocks from peers or gateways (verified) and rebuild indexes from blocks')
    .option('--reindex', 'with --repair: rebuild every canonical index entry even where none was found missing')
    .addHelpText('after', '\nExit code 0: no problem (or all fixed); 1: problems found (without --repair) or left unfixed.\nExamples:\n  $ chainstore verify\n  $ chainstore -c node.json verify --repair --json')
    .action(async (opts: { repair?: boolean, reindex?: boolean }) => {
      const p = phased('items')
      const repair = opts.repair === true
      // every table file's CRC is checked before LevelDB opens (not only the ones new since the last open)
      const run = async (aside?: { dir: string, tables: DamagedTable[] }): Promise<IntegritySummary> => await ctx.withStore(async store => {
        const salvage = aside != null ? await salvageBlocks(store, aside.dir, aside.tables) : undefined
        const s = await verifyStore(store, { repair, reindex: opts.reindex === true || salvage != null, onProgress: p.onProgress })
        return salvage != null ? withSalvage(s, salvage) : s
      }, { level: { checkTables: 'all' } })
      let s: IntegritySummary
      try {
        s = await run()
      } catch (err) {
        if (!(err instanceof DamagedTablesError)) throw err
        if (!repair) {
          ctx.print(`damaged     ${err.tables.length} LevelDB table file(s); the store does not open on them\n${err.tables.map(t => `    - ${t.file}: ${t.reason}`).join('\n')}\nrun verify --repair to set them aside, keep their sound blocks, fetch back the rest and rebuild indexes`,
            { ok: false, error: err.name, message: err.message, counts: { 'damaged-table': err.tables.length }, tables: err.tables })
          process.exitCode = MAINTENANCE_EXIT.PROBLEMS
          return
        }
        const dir = await setAsideTables((await ctx.config()).dataDir, err.tables)
        s = await run({ dir, tables: err.tables })
      } finally { p.stop() }
      ctx.print(summaryText(s), s)
      const left = s.repaired ? s.problems - s.fixed : s.problems
      if (left > 0) process.exitCode = MAINTENANCE_EXIT.PROBLEMS
    })
}
