/**
 * Child program of test/durability.test.ts: opens a store, resumes a
 * deterministic synthetic chain from the stored head and writes it in small
 * batches until it is killed, reporting every acknowledged write on stdout.
 *
 *   node test/helpers/crash-writer.ts '<CrashWriterArgs as JSON>'
 *
 * Protocol: one JSON object per line on stdout, each written with a blocking
 * write(2) so that a line the parent reads was complete before the next step
 * started. A `block` or `kv` line is written only AFTER the promise of the
 * write it reports resolved, so every such line is an acknowledged write.
 *
 *   {t:'booted'}                       modules loaded
 *   {t:'opening'}                      about to call createChainStore
 *   {t:'open', head}                   store open (head height or null)
 *   {t:'ready', next}                  chain regenerated; first height to write
 *   {t:'w', from, n}                   storeBlocks of n blocks in flight
 *   {t:'block', height, cid, txIds}    acknowledged block
 *   {t:'k', n}                         kv batch in flight
 *   {t:'kv', ns, key, value}           acknowledged kv entry
 *   {t:'holding', head}                hold mode: idle with the store open
 *   {t:'stopped'}                      store stopped cleanly (hold mode)
 *   {t:'error', phase, name, message}  something failed; exit code 3
 *
 * In hold mode the child writes `hold` blocks, then waits for commands on
 * stdin: `write <n>` (n more blocks, then `holding` again) or `stop`.
 */
import { writeSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { encodeBlock } from '../../src/codec/encode.ts'
import { createChainStore } from '../../src/index.ts'
import { createLogger } from '../../src/logger.ts'
import { SyntheticChain } from '../../src/synthetic/chain.ts'
import { KV_BLOCKS, KV_META, type CrashWriterArgs } from './verify-store.ts'

const pause = new Int32Array(new SharedArrayBuffer(4))

/**
 * Writes one line to fd 1 and returns only once all of it is in the pipe. fd 1
 * starts blocking, but anything that touches `process.stdout` switches it to
 * O_NONBLOCK, so a full pipe (parent busy) can give EAGAIN or a short write:
 * wait a millisecond and go on with the rest.
 */
function emit (obj: Record<string, unknown>): void {
  const line = Buffer.from(JSON.stringify(obj) + '\n')
  let off = 0
  while (off < line.length) {
    try {
      off += writeSync(1, line, off, line.length - off)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err
      Atomics.wait(pause, 0, 0, 1)
    }
  }
}

let phase = 'boot'
function fail (err: unknown): never {
  const e = err as Error
  emit({ t: 'error', phase, name: e?.name ?? 'Error', message: String(e?.message ?? e), stack: e?.stack })
  process.exit(3)
}
process.on('uncaughtException', fail)
process.on('unhandledRejection', fail)

const args = JSON.parse(process.argv[2] ?? '') as CrashWriterArgs

emit({ t: 'booted', pid: process.pid })

phase = 'open'
emit({ t: 'opening' })
const store = await createChainStore(
  { dataDir: args.dataDir, durability: args.durability },
  { logger: createLogger({ level: 'silent' }) }
)
const head = store.head()
emit({ t: 'open', head: head?.height ?? null })

// regenerate the deterministic chain up to the stored head and check it is the
// chain this store holds, then continue from the next height
phase = 'resume'
const limits = store.config.limits
const chain = new SyntheticChain({ seed: args.seed, txsPerBlock: args.txsPerBlock, addresses: args.addresses, dataBytes: args.dataBytes })
if (head != null) {
  while (chain.height < head.height) chain.next(limits)
  const atHead = encodeBlock(chain.next(limits), limits)
  const stored = head.cid.toString()
  if (atHead.cid.toString() !== stored) throw new Error(`stored head ${head.height} is ${stored}, the regenerated chain has ${atHead.cid.toString()} there`)
}
emit({ t: 'ready', next: chain.height })

const blocksKv = store.kv<{ cid: string, txCount: number }>(KV_BLOCKS)
const metaKv = store.kv<{ height: number }>(KV_META)

/** Writes `count` more blocks (Infinity: until killed). */
async function write (count: number): Promise<void> {
  phase = 'write'
  let written = 0
  while (written < count) {
    const n = Math.min(count - written, 1 + Math.floor(Math.random() * args.batchMax))
    const batch = chain.take(n, limits)
    emit({ t: 'w', from: batch[0].height, n })
    const stored = await store.storeBlocks(batch)
    for (const b of stored) emit({ t: 'block', height: b.height, cid: b.cid.toString(), txIds: b.txIds.map(String), created: b.created })
    written += n

    // kv entries for the same blocks, plus an overwritten progress key
    const entries = stored.map(b => ({ key: `h/${String(b.height).padStart(10, '0')}`, value: { cid: b.cid.toString(), txCount: b.txIds.length } }))
    const last = stored[stored.length - 1].height
    emit({ t: 'k', n: entries.length + 1 })
    await blocksKv.batch(entries.map(e => ({ type: 'put' as const, ...e })))
    for (const e of entries) emit({ t: 'kv', ns: KV_BLOCKS, key: e.key, value: e.value })
    await metaKv.put('progress', { height: last })
    emit({ t: 'kv', ns: KV_META, key: 'progress', value: { height: last } })
  }
}

if (args.hold == null) {
  // an orphan (parent gone: stdin closes) must not write forever
  process.stdin.on('end', () => process.exit(4)).resume()
  await write(Infinity)
} else {
  await write(args.hold)
  emit({ t: 'holding', head: store.head()?.height ?? null })
  phase = 'hold'
  for await (const line of createInterface({ input: process.stdin })) {
    const [cmd, arg] = line.trim().split(/\s+/)
    if (cmd === 'write') {
      await write(Number(arg))
      phase = 'hold'
      emit({ t: 'holding', head: store.head()?.height ?? null })
    } else if (cmd === 'stop') {
      break
    }
  }
  phase = 'stop'
  await store.stop()
  emit({ t: 'stopped' })
  process.exit(0)
}
