/**
 * The same-run baseline of the replication part's CPU per block: what a
 * follower does at least for each block, with no network. It rebuilds the
 * devnet chain's blocks from their bytes (`blockFromBytes`: header and every
 * page hashed against their CIDs, then decoded) and imports them
 * (`importBlocks`) into a fresh store with the network off, in a process
 * started with the peers' Node flags. The CPU per block (user + system, all
 * threads, LevelDB's included) of that work is the floor under a follower's
 * figure; the rest of a peer's is replication (announcements, the chain log,
 * fetching, serving). Machines drift by ±20-30 % over minutes here, so the
 * part runs this beside each phase and reports each phase against it.
 *
 * argv[2]: JSON { dir, seed, txs, blocks, batch }; prints one JSON line
 * { cpuMsPerBlock, blocks, batch }.
 */
import { rm } from 'node:fs/promises'
import { encodeBlock } from '../src/codec/encode.ts'
import { devnetChain } from '../src/devnet/chain.ts'
import { createChainStore } from '../src/index.ts'
import { benchLevel, quietLogger, rebuild, receivedOf } from './common.ts'

const { dir, seed, txs, blocks, batch } = JSON.parse(process.argv[2]) as { dir: string, seed: number, txs: number, blocks: number, batch: number }
const store = await createChainStore({ dataDir: dir, network: { enabled: false }, level: { compression: benchLevel().compression } }, { logger: quietLogger })
try {
  const encoded = devnetChain(seed, txs).take(blocks, store.config.limits).map(b => encodeBlock(b, store.config.limits))
  const received = encoded.map(receivedOf)
  // the first calls warm the JIT up and are not counted
  const warm = Math.min(received.length, 20)
  for (let i = 0; i < warm; i += batch) await store.importBlocks(received.slice(i, Math.min(i + batch, warm)).map(r => rebuild(r, store.config.limits)))
  const before = process.cpuUsage()
  for (let i = warm; i < received.length; i += batch) {
    await store.importBlocks(received.slice(i, i + batch).map(r => rebuild(r, store.config.limits)))
  }
  const used = process.cpuUsage(before)
  process.stdout.write(JSON.stringify({ cpuMsPerBlock: (used.user + used.system) / 1000 / (received.length - warm), blocks: received.length - warm, batch }) + '\n')
} finally {
  await store.stop()
  await rm(dir, { recursive: true, force: true })
}
