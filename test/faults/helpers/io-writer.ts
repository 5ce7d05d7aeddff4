/**
 * Child program of test/faults/io.test.ts: opens a store, reports its
 * LevelDB log files, waits for `go` on stdin (the parent attaches strace in
 * between), then writes blocks and blobs, reporting each acknowledged write
 * and each refusal (helpers/lines.ts protocol):
 *
 *   {t:'open', pid, logs}                 store open; LevelDB's current log file(s)
 *   {t:'block', height, cid}              acknowledged storeBlocks entry
 *   {t:'blob', cid}                       acknowledged putBytes
 *   {t:'refused', op, name, message}      a write that failed (never acknowledged)
 *   {t:'done', writes, refused, stopped, live, reasons, writesRefused}  finished (stop() outcome, health and status before it)
 */
import { readdirSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { createChainStore } from '../../../src/index.ts'
import { createLogger } from '../../../src/logger.ts'
import { LEVEL_DIR } from '../../../src/storage/level.ts'
import { SyntheticChain } from '../../../src/synthetic/chain.ts'
import { emit } from './lines.ts'

interface Args { dataDir: string, durability: 'process' | 'power', maxWrites: number, refusalsBeforeStop: number }
const args = JSON.parse(process.argv[2]) as Args
let phase = 'open'
const fail = (err: unknown): never => { emit({ t: 'error', phase, name: (err as Error)?.name, message: String((err as Error)?.message ?? err) }); process.exit(3) }
process.on('uncaughtException', fail)
process.on('unhandledRejection', fail)

const store = await createChainStore({ dataDir: args.dataDir, durability: args.durability }, { logger: createLogger({ level: 'silent' }) })
const levelDir = join(args.dataDir, LEVEL_DIR)
emit({ t: 'open', pid: process.pid, logs: readdirSync(levelDir).filter(f => f.endsWith('.log')).map(f => join(levelDir, f)) })

phase = 'wait'
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]()
await lines.next()

phase = 'write'
let chain = new SyntheticChain({ seed: 5, txsPerBlock: [2, 8], addresses: 20 })
let writes = 0
let refused = 0
while (writes < args.maxWrites && refused < args.refusalsBeforeStop) {
  writes++
  if (writes % 2 === 0) {
    const blocks = chain.take(1 + (writes % 3), store.config.limits)
    try {
      const stored = await store.storeBlocks(blocks)
      for (const b of stored) emit({ t: 'block', height: b.height, cid: b.cid.toString() })
    } catch (err) {
      refused++
      emit({ t: 'refused', op: 'storeBlocks', name: (err as Error).name, message: (err as Error).message })
      // regenerate the same heights next time: the chain must continue from the stored head
      const head = store.head()
      chain = new SyntheticChain({ seed: 5, txsPerBlock: [2, 8], addresses: 20 })
      if (head != null) chain.resume(head)
    }
  } else {
    try {
      const cid = await store.putBytes(randomBytes(2048 + (writes % 7) * 1024))
      emit({ t: 'blob', cid: cid.toString() })
    } catch (err) {
      refused++
      emit({ t: 'refused', op: 'putBytes', name: (err as Error).name, message: (err as Error).message })
    }
  }
}
// what an operator sees of a failed store before it is stopped
const health = store.health()
const writesRefused = (await store.status()).writesRefused
phase = 'stop'
let stopped = 'ok'
try { await store.stop() } catch (err) { stopped = `${(err as Error).name}: ${(err as Error).message}` }
emit({ t: 'done', writes, refused, stopped, live: health.live, reasons: health.reasons, writesRefused })
process.exit(0)
