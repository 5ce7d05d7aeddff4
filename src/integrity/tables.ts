import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { bytesMatchCid } from '../codec/cid.ts'
import { LEVEL_DIR, startBatch } from '../storage/level.ts'
import { blockKey } from '../storage/keys.ts'
import { quarantineTables, salvageEntries, type DamagedTable } from '../storage/tables.ts'
import { cidOfBlockKey } from './check.ts'
import type { RepairableStore, TableSalvage } from './types.ts'

/** Blocks written back per batch while salvaging. */
const SALVAGE_BATCH = 256


/**
 * Sets damaged table files aside (storage/tables.ts `quarantineTables`:
 * moved to `<dataDir>/damaged/<time>/`, LevelDB's manifest rebuilt from
 * the rest). Call with the store closed, then `salvageBlocks` on the
 * reopened store, then a `verifyStore` with `repair` and `reindex`:
 * indexes are rebuilt from blocks, and what is still missing is fetched
 * back from peers or gateways.
 */
export async function setAsideTables (dataDir: string, tables: DamagedTable[]): Promise<string> {
  return await quarantineTables(dataDir, join(dataDir, LEVEL_DIR), tables)
}

/**
 * Writes back every block of the set-aside tables' sound data blocks that
 * hashes to its CID and is not in the store: the part of a damaged table
 * that is still provably right. Other entries (indexes, metadata) are left:
 * the repair rebuilds indexes from blocks.
 */
export async function salvageBlocks (store: RepairableStore, dir: string, tables: DamagedTable[]): Promise<TableSalvage> {
  const m = store.maintenance()
  const out: TableSalvage = { dir, tables, salvaged: 0, present: 0, refused: 0 }
  const prefix = new TextEncoder().encode(m.blocks.prefix)
  const decoder = new TextDecoder('latin1')
  const names = (await readdir(dir)).filter(n => n.endsWith('.ldb') || n.endsWith('.sst'))
  await m.exclusive(async () => {
    let batch = startBatch(m.db, m.blocks)
    for (const name of names) {
      const file = await readFile(join(dir, name))
      for (const { key, value } of salvageEntries(file, prefix)) {
        let cid
        try { cid = cidOfBlockKey(decoder.decode(key.subarray(prefix.length))) } catch { out.refused++; continue }
        if (!bytesMatchCid(cid, value)) { out.refused++; continue }
        if (m.blocks.getSync(blockKey(cid)) != null) { out.present++; continue }
        batch.putBlock(cid, value.slice())
        out.salvaged++
        if (batch.length >= SALVAGE_BATCH) {
          await batch.write(m.sync)
          batch = startBatch(m.db, m.blocks)
        }
      }
    }
    await batch.write(true)
  })
  return out
}
