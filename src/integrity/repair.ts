import type { CID } from 'multiformats/cid'
import { blockFromBytes, headerLinks } from '../codec/from-bytes.ts'
import { recordBlock, indexBlock } from '../indexes/writer.ts'
import { WindowBuilder } from '../indexes/windows.ts'
import { setHeadInBatch } from '../chain/meta.ts'
import { blockKey } from '../storage/keys.ts'
import { HeightIndex } from '../indexes/heights.ts'
import { startBatch } from '../storage/level.ts'
import { LOG_DAMAGE_KEY } from '../storage/damage.ts'
import type { CheckResult } from './check.ts'
import type { IntegrityProgress, RepairableStore } from './types.ts'

/** Index entries per repair batch. */
const REINDEX_BATCH_HEIGHTS = 200

/** What a repair did. */
export interface RepairOutcome {
  refetched: number
  refetchFailed: Array<{ cid: string, reason: string }>
  reindexed: number
}

/**
 * Repairs what a check found: corrupt or unreadable blocks are deleted,
 * then every bad or missing block is fetched back by CID through
 * `store.getBytes` (connected peers, then gateways; each verified against
 * its CID) and written back (out of the fetch cache: it is held again);
 * dangling index entries are deleted and the canonical chain's indexes
 * are rebuilt from its blocks; the head is set from the height index.
 * Writes run under the store's write lock; `afterRepair` reloads the
 * store's head, finality and memory tier.
 */
export async function repairStore (store: RepairableStore, found: CheckResult, options: { onProgress?: IntegrityProgress, signal?: AbortSignal } = {}): Promise<RepairOutcome> {
  const m = store.maintenance()
  const out: RepairOutcome = { refetched: 0, refetchFailed: [], reindexed: 0 }
  if (found.badKeys.size > 0) {
    await m.exclusive(async () => {
      const batch = startBatch(m.db, m.blocks)
      for (const key of found.badKeys) batch.delBlock(key)
      await batch.write(true)
    })
  }
  let done = 0
  for (const cid of found.refetch.values()) {
    options.signal?.throwIfAborted()
    try {
      const bytes = await store.getBytes(cid, { signal: options.signal })
      // written through the store's batch: a block the fetch cache took in is claimed back out (a pin holds it)
      await store.putVerifiedBlocks([{ cid, bytes }])
      out.refetched++
    } catch (err) {
      if (options.signal?.aborted === true) throw err
      out.refetchFailed.push({ cid: cid.toString(), reason: (err as Error).message })
    }
    options.onProgress?.({ phase: 'refetch', done: ++done, total: found.refetch.size })
  }
  await refillLost(store, found, out, options)
  if (found.reindex || found.holes.length > 0 || found.dangling.length > 0 || found.headWrong || found.logDamage || out.refetched > 0) {
    await m.exclusive(async () => {
      let batch = startBatch(m.db, m.blocks)
      const heights = new HeightIndex(m.db)
      const get = (key: Uint8Array): Uint8Array | undefined => m.db.getSync(key) ?? undefined
      for (const key of found.dangling) batch.del(key)
      // holes first: walk back from each missing parent while its height is not indexed
      for (let cid of found.holes) {
        for (let guard = 0; guard < 1_000_000; guard++) {
          const header = m.blocks.getSync(blockKey(cid))
          if (header == null) break
          let block
          try { block = blockFromBytes(cid, header, c => m.blocks.getSync(blockKey(c)) ?? undefined, store.config.limits) } catch { break }
          if (heights.at(block.height) != null) break
          recordBlock(batch, block)
          // one block, below or inside the head's window: merged into its window keys (the reload after repair takes the head's window back into memory)
          const one = new WindowBuilder(get)
          indexBlock(batch, block, one)
          one.finish(batch)
          await batch.write(m.sync)
          batch = startBatch(m.db, m.blocks)
          if (block.parent == null) break
          cid = block.parent
        }
      }
      let top: { height: number, cid: CID } | undefined
      // heights ascend: each postings window is written whole when the walk leaves it
      const postings = new WindowBuilder(get)
      for await (const [height, cid] of heights.entries(0, Number.MAX_SAFE_INTEGER, options)) {
        top = { height, cid }
        const header = m.blocks.getSync(blockKey(cid))
        if (header == null) continue
        let block
        try {
          block = blockFromBytes(cid, header, c => m.blocks.getSync(blockKey(c)) ?? undefined, store.config.limits)
        } catch {
          continue // pages gone (pruned or lost and not refetched): nothing to rebuild from
        }
        recordBlock(batch, block)
        indexBlock(batch, block, postings)
        out.reindexed++
        if (out.reindexed % REINDEX_BATCH_HEIGHTS === 0) {
          await batch.write(m.sync)
          batch = startBatch(m.db, m.blocks)
          options.onProgress?.({ phase: 'reindex', done: out.reindexed })
        }
      }
      postings.finish(batch)
      if (found.headWrong && top != null) setHeadInBatch(batch, top)
      // what the damaged log held is gone from here: the mark has told its story (verify's findings, the error log)
      if (found.logDamage) batch.del(LOG_DAMAGE_KEY)
      await batch.write(true)
    })
    await m.afterRepair()
  }
  return out
}

/**
 * Fetches back canonical blocks lost below the head (header, then its pages,
 * each verified by `store.getBytes`), walking parent links down each gap;
 * the refilled blocks are then indexed by the hole walk of the repair.
 */
async function refillLost (store: RepairableStore, found: CheckResult, out: RepairOutcome, options: { onProgress?: IntegrityProgress, signal?: AbortSignal }): Promise<void> {
  const m = store.maintenance()
  for (const gap of found.lost) {
    found.holes.push(gap.cid) // the hole walk indexes down from the gap's top once its blocks are here
    let cid: CID | null = gap.cid
    for (let height = gap.height; cid != null && height >= gap.from; height--) {
      options.signal?.throwIfAborted()
      const at: CID = cid
      try {
        // a header may be here already (salvaged from a damaged table) with pages that are not
        const local = m.blocks.getSync(blockKey(at))
        const header = local ?? await store.getBytes(at, { signal: options.signal })
        const links = headerLinks(header)
        const fetched = local == null ? [{ cid: at, bytes: header }] : []
        for (const p of links.pages) {
          if (m.blocks.getSync(blockKey(p)) == null) fetched.push({ cid: p, bytes: await store.getBytes(p, { signal: options.signal }) })
        }
        if (fetched.length > 0) await store.putVerifiedBlocks(fetched)
        out.refetched += fetched.length
        cid = links.parent
      } catch (err) {
        if (options.signal?.aborted === true) throw err
        out.refetchFailed.push({ cid: at.toString(), reason: `height ${height}, lost below the head: ${(err as Error).message}` })
        break
      }
      options.onProgress?.({ phase: 'refetch', done: gap.height - height + 1, total: gap.height - gap.from + 1 })
    }
  }
}
