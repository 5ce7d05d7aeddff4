import { join } from 'node:path'
import { readStoreId } from '../migrations/index.ts'
import { LEVEL_DIR } from '../storage/level.ts'
import { checkTables, type TableCheck } from '../storage/tables.ts'
import { checkStore, type CheckResult } from './check.ts'
import { repairStore } from './repair.ts'
import type { Finding, FindingKind, IntegritySummary, RepairableStore, VerifyStoreOptions } from './types.ts'

export { checkStore, cidOfBlockKey, type CheckResult } from './check.ts'
export { repairStore, type RepairOutcome } from './repair.ts'
export { salvageBlocks, setAsideTables } from './tables.ts'
export * from './types.ts'

function total (counts: Partial<Record<FindingKind, number>>): number {
  return Object.values(counts).reduce((n, c) => n + (c ?? 0), 0)
}

/**
 * Checks a store: re-hashes every stored block against its CID; checks
 * every index entry (height → header, block records, transaction ids and
 * records, address history and logs → transaction), every pinned DAG, the
 * head against the height index and the state root at the state's head.
 * With `repair`, fetches back bad or missing blocks (peers, then gateways,
 * verified), rebuilds indexes from blocks, fixes the head, then checks
 * again: `fixed` and `unfixed` come from that second check.
 */
export async function verifyStore (store: RepairableStore, options: VerifyStoreOptions = {}): Promise<IntegritySummary> {
  const started = performance.now()
  const m = store.maintenance()
  const allowGaps = store.config.allowGaps === true
  const tables = await checkTables(store.config.dataDir, join(store.config.dataDir, LEVEL_DIR), 'all')
  const first = await checkStore(m.db, m.blocks, { ...options, allowGaps })
  tableFindings(first, tables)
  const problems = total(first.counts)
  let after: CheckResult = first
  let repairedInfo = { refetched: 0, refetchFailed: [] as Array<{ cid: string, reason: string }>, reindexed: 0 }
  if (options.repair === true && options.reindex === true) first.reindex = true
  if (options.repair === true && (problems > 0 || options.reindex === true)) {
    repairedInfo = await repairStore(store, first, options)
    after = await checkStore(m.db, m.blocks, { ...options, allowGaps, onProgress: undefined })
    tableFindings(after, tables)
  }
  const left = total(after.counts)
  return {
    storeId: readStoreId(m.db),
    blocks: first.blocks,
    bytes: first.bytes,
    heights: first.heights,
    pins: first.pins,
    counts: first.counts,
    problems,
    findings: first.findings,
    repaired: options.repair === true && problems > 0,
    fixed: options.repair === true ? Math.max(0, problems - left) : 0,
    unfixedCounts: after.counts,
    unfixed: after.findings as Finding[],
    ...repairedInfo,
    tables: { checked: tables.checked, bytes: tables.bytes, damaged: tables.damaged.length },
    ms: performance.now() - started
  }
}

/** Damaged table files as findings: an open store cannot set them aside (stop it and run `chainstore verify --repair`). */
function tableFindings (r: CheckResult, tables: TableCheck): void {
  if (tables.damaged.length === 0) return
  r.counts['damaged-table'] = tables.damaged.length
  for (const t of tables.damaged) r.findings.unshift({ kind: 'damaged-table', message: `LevelDB table ${t.file}: ${t.reason} — stop the store and run \`chainstore verify --repair\`` })
}
