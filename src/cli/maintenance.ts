import type { Command } from 'commander'
import { createBackup, listBackups, restoreBackup, verifyBackup, BackupError, type BackupProgress } from '../backup/index.ts'
import type { ChainStoreConfig } from '../config/index.ts'
import { salvageBlocks, setAsideTables, verifyStore, type IntegrityProgress, type IntegritySummary, type TableSalvage } from '../integrity/index.ts'
import { DamagedTablesError } from '../storage/errors.ts'
import type { DamagedTable } from '../storage/tables.ts'
import type { ChainStore } from '../node/chainstore.ts'
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

/** Adds `backup create|list|verify|restore` and `verify [--repair]` to the chainstore command. */
export function registerMaintenanceCommands (program: Command, ctx: MaintenanceCliContext): void {
  const backup = program.command('backup').description('backups to a local directory: CARv1 files + a content-addressed manifest; full or incremental, verify, point-in-time restore')

  backup.command('create <dir>')
    .description('write a backup of the store into a new directory under <dir>')
    .option('--incremental', 'only what came since the newest backup in <dir> (its manifest is linked)')
    .addHelpText('after', '\nExamples:\n  $ chainstore backup create /backups/node1\n  $ chainstore backup create /backups/node1 --incremental --json')
    .action(async (dir: string, opts: { incremental?: boolean }) => {
      const p = phased('items')
      const r = await ctx.withStore(async s => await createBackup(s, dir, { incremental: opts.incremental === true, onProgress: p.onProgress })).finally(p.stop)
      const m = r.manifest
      ctx.print([
        `${m.kind} backup ${r.id}`,
        `  manifest  ${r.manifestCid.toString()}${m.previous != null ? ` (follows ${m.previous.toString()})` : ''}`,
        `  heights   ${m.from == null ? 'none new' : `${m.from}..${m.to}`}; head ${m.head?.height ?? '-'}; finalized ${m.finalized}`,
        `  state     ${m.stateRoot != null ? `${m.stateRoot.toString()} at ${m.stateHeight} (${m.stateRoots} roots in this backup)` : 'none'}`,
        `  files     ${m.files.map(f => `${f.name} ${formatBytes(f.bytes)} (${formatCount(f.blocks)} blocks)`).join(', ') || 'none'}`,
        `  took      ${Math.round(r.ms)} ms, ${formatBytes(m.bytes / Math.max(0.001, r.ms / 1000))}/s`
      ].join('\n'), r)
    })

  backup.command('list <dir>')
    .description('the backups in <dir>, oldest first')
    .action(async (dir: string) => {
      const list = await listBackups(dir)
      ctx.print(list.length === 0
        ? 'no backups'
        : list.map(b => `${b.id}  ${b.manifest.kind.padEnd(11)}  ${b.manifest.from == null ? '-' : `${b.manifest.from}..${b.manifest.to}`}  ${formatCount(b.manifest.blocks)} blocks  ${formatBytes(b.manifest.bytes)}  ${b.manifestCid.toString()}`).join('\n'), list)
    })

  backup.command('verify <dir> [id]')
    .description('re-hash every block of every CAR, check each DAG and the manifest chain (of backup [id], or of all)')
    .addHelpText('after', '\nExit code 1 when a backup is refused (the error names the backup, file, block and what is wrong).\nExample:\n  $ chainstore backup verify /backups/node1')
    .action(async (dir: string, id?: string) => {
      const p = phased('blocks')
      try {
        const r = await verifyBackup(dir, id, { onProgress: p.onProgress }).finally(p.stop)
        ctx.print(`ok: ${r.backups.length} backup(s), ${formatCount(r.blocks)} blocks, ${formatBytes(r.bytes)} verified in ${Math.round(r.ms)} ms`, { ok: true, ...r })
      } catch (err) {
        if (!refusal(ctx, err)) throw err
      }
    })

  backup.command('restore <dir>')
    .description('restore the backups (full, then each incremental) into an empty data dir (the global -d / config dataDir, or --target)')
    .option('--height <h>', 'point in time: blocks up to h and the state root at h')
    .option('--id <id>', 'restore up to this backup (directory name or manifest CID) instead of the newest')
    .option('--target <dataDir>', 'data dir to restore into (must hold no chain)')
    .addHelpText('after', '\nThe backups are verified first; a bad one is refused and nothing is written.\nExamples:\n  $ chainstore -d /var/lib/chainstore-new backup restore /backups/node1\n  $ chainstore backup restore /backups/node1 --height 12000 --target /tmp/at-12000')
    .action(async (dir: string, opts: { height?: string, id?: string, target?: string }) => {
      const height = parseHeight(opts.height)
      const target = opts.target ?? (await ctx.config()).dataDir
      const p = phased('blocks')
      try {
        const r = await restoreBackup(dir, target, { height, id: opts.id, onProgress: p.onProgress }).finally(p.stop)
        ctx.print([
          `restored ${r.backups.length} backup(s) into ${target}`,
          `  head      ${r.head != null ? `${r.head.height} ${r.head.cid.toString()}` : 'none'}; finalized ${r.finalized}`,
          `  blocks    ${formatCount(r.blocks)} (${formatBytes(r.bytes)}), ${formatCount(r.heights)} heights indexed, ${r.pins} pins`,
          `  state     ${r.stateRoot != null ? `${r.stateRoot.toString()} (${r.stateRoots} roots)` : 'none'}`,
          `  took      ${Math.round(r.ms)} ms`
        ].join('\n'), { target, ...r })
      } catch (err) {
        if (!refusal(ctx, err)) throw err
      }
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
