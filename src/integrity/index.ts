import { readStoreId } from '../migrations/index.ts'
import { checkStore, type CheckResult } from './check.ts'
import { repairStore } from './repair.ts'
import type { Finding, FindingKind, IntegritySummary, RepairableStore, VerifyStoreOptions } from './types.ts'

export { checkStore, cidOfBlockKey, type CheckResult } from './check.ts'
export { repairStore, type RepairOutcome } from './repair.ts'
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
  const first = await checkStore(m.db, m.blocks, { ...options, allowGaps })
  const problems = total(first.counts)
  let after: CheckResult = first
  let repairedInfo = { refetched: 0, refetchFailed: [] as Array<{ cid: string, reason: string }>, reindexed: 0 }
  if (options.repair === true && options.reindex === true) first.reindex = true
  if (options.repair === true && (problems > 0 || options.reindex === true)) {
    repairedInfo = await repairStore(store, first, options)
    after = await checkStore(m.db, m.blocks, { ...options, allowGaps, onProgress: undefined })
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
    ms: performance.now() - started
  }
}
