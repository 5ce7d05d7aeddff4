/**
 * Child of the corruption fault part: opens a data dir whose LevelDB files
 * the parent damaged, reads back every block and transaction the parent
 * wrote (regenerated here from the same seed) and classifies each read:
 * right, detected (a typed ChainStoreError), or silently wrong. Then tries a
 * local write on top and runs `verifyStore`. Prints one JSON line; a LevelDB
 * abort kills this process, which the parent counts.
 */
import { isDeepStrictEqual } from 'node:util'
import { decodeTx } from '../../../src/codec/decode.ts'
import { encodeBlock } from '../../../src/codec/encode.ts'
import { ChainStoreError, DamagedTablesError, createChainStore, createLogger, type ChainStore } from '../../../src/index.ts'
import { salvageBlocks, setAsideTables, verifyStore } from '../../../src/integrity/index.ts'
import { SyntheticChain } from '../../../src/synthetic/chain.ts'

export interface CorruptionArgs { dataDir: string, seed: number, blocks: number, txsPerBlock: number }

export interface CorruptionReport {
  opened: boolean
  openError?: string
  /** Table files the open refused as damaged, set aside as `verify --repair` does (then reopened, salvaged, reindexed). */
  tablesSetAside: number
  /** Blocks salvaged from the set-aside tables' sound data blocks. */
  salvaged: number
  reads: number
  right: number
  detected: number
  wrong: number
  untyped: number
  /** Heights below the written head that read as not found. */
  missingHeights: number[]
  /** A local write on top was refused with ChainHoleError. */
  writeRefused: boolean
  /** Kinds `verifyStore` found, with counts. */
  verify: Record<string, number>
  verifyError?: string
  examples: string[]
}

const args = JSON.parse(process.argv[2]) as CorruptionArgs
const report: CorruptionReport = { opened: false, tablesSetAside: 0, salvaged: 0, reads: 0, right: 0, detected: 0, wrong: 0, untyped: 0, missingHeights: [], writeRefused: false, verify: {}, examples: [] }
const note = (s: string): void => { if (report.examples.length < 5) report.examples.push(s) }

/** Runs one read: right when `check` passes, detected on a typed error, else wrong or untyped. */
function read (what: string, fn: () => unknown, check: (v: any) => boolean, onNotFound?: () => void): void {
  report.reads++
  let value: unknown
  try {
    value = fn()
  } catch (err) {
    if (err instanceof ChainStoreError) {
      report.detected++
      if (/NotFound/.test(err.name)) onNotFound?.()
    } else {
      report.untyped++
      note(`${what}: untyped ${(err as Error)?.name}: ${(err as Error)?.message}`)
    }
    return
  }
  if (check(value)) report.right++
  else { report.wrong++; note(`${what}: returned data that differs from what was written`) }
}

const chain = new SyntheticChain({ seed: args.seed, txsPerBlock: args.txsPerBlock, addresses: 200 })
let store: ChainStore
const open = async (): Promise<ChainStore> => await createChainStore({ dataDir: args.dataDir }, { logger: createLogger({ level: 'silent' }) })
try {
  try {
    store = await open()
  } catch (err) {
    if (!(err instanceof DamagedTablesError)) throw err
    // what an operator's `chainstore verify --repair` does, without peers or gateways to fetch from
    report.tablesSetAside = err.tables.length
    const dir = await setAsideTables(args.dataDir, err.tables)
    store = await open()
    report.salvaged = (await salvageBlocks(store, dir, err.tables)).salvaged
    await verifyStore(store, { repair: true, reindex: true })
  }
  report.opened = true
} catch (err) {
  report.openError = `${(err as Error).name}: ${(err as Error).message}`.slice(0, 300)
  process.stdout.write(JSON.stringify(report) + '\n')
  process.exit(0)
}
try {
  const limits = store.config.limits
  for (let h = 0; h < args.blocks; h++) {
    const input = chain.next(limits)
    const enc = encodeBlock(input, limits)
    const ids = enc.txs.map(t => t.id.toString())
    read(`block ${h}`, () => store.getBlockSync(h), b => b.cid.equals(enc.cid) && isDeepStrictEqual(b.txIds.map((i: any) => i.toString()), ids) && b.transactions.length === enc.txs.length,
      () => { report.missingHeights.push(h) })
    for (let i = 0; i < enc.txs.length; i++) {
      const tx = enc.txs[i]
      read(`tx ${h}/${i}`, () => store.getTransactionSync(tx.id), r => r.id.equals(tx.id) && r.blockCid.equals(enc.cid) && r.height === h && r.index === i && isDeepStrictEqual(r.transaction, decodeTx(tx.bytes)))
    }
  }
  const next = chain.next(limits)
  try { await store.storeBlocks([next]) } catch (err) { report.writeRefused = (err as Error).name === 'ChainHoleError' }
  try {
    const v = await verifyStore(store)
    report.verify = v.counts as Record<string, number>
  } catch (err) {
    report.verifyError = `${(err as Error).name}: ${(err as Error).message}`.slice(0, 300)
  }
} finally {
  await store.stop().catch(() => {})
}
process.stdout.write(JSON.stringify(report) + '\n')
