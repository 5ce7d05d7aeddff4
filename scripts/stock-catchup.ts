// How long a stock OrbitDB 4 follower (test/helpers/stock-orbitdb-peer.mjs:
// Helia + @orbitdb/core + chainstore's access controller, no other
// chainstore code) takes to catch up with a chainstore writer's chain log of
// N entries. A stock follower walks the log one round trip at a time,
// fetching the `next` and `refs` of what it has (CHAIN_LOG_REFERENCES), so
// this is what the number of refs costs it. Everything on 127.0.0.1.
//
//   N=300 npx node scripts/stock-catchup.ts
import { fork } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createChainStore, identityIdFromSeed } from '../src/index.ts'
import { createLogger } from '../src/logger.ts'
import { CHAIN_LOG_REFERENCES } from '../src/replication/constants.ts'
import { SyntheticChain } from '../src/synthetic/chain.ts'

const N = Number(process.env.N ?? 300)
const root = join(import.meta.dirname, '..')
const dir = await mkdtemp(join(tmpdir(), 'chainstore-stock-catchup-'))
const seed = 'catchup-writer'
const store = await createChainStore({ dataDir: join(dir, 'writer'), network: { enabled: true, seed, writers: [identityIdFromSeed(seed)], intervalMs: 300 } }, { logger: createLogger({ level: 'silent' }) })
let child: ReturnType<typeof fork> | undefined
try {
  // one chain-log entry per call: each append finishes before the next block is stored
  const chain = new SyntheticChain({ txsPerBlock: 5, addresses: 50 })
  for (let i = 0; i < N; i++) {
    await store.storeBlocks(chain.take(1, store.config.limits))
    await store.replication!.flushAnnouncements()
  }
  const databases = store.replication!.addressesOfDatabases()
  const entries = store.replication!.stats.announcementEntries
  process.stderr.write(`[catchup] writer: ${N} blocks, ${entries} chain-log entries, ${CHAIN_LOG_REFERENCES} refs per entry\n`)

  child = fork(join(root, 'test', 'helpers', 'stock-orbitdb-peer.mjs'), [JSON.stringify({ dir: join(dir, 'stock') })], {
    execArgv: ['--import', join(root, 'scripts', 'source-exports.mjs')], stdio: ['ignore', 'ignore', 'inherit', 'ipc']
  })
  const pending = new Map<number, (v: any) => void>()
  let next = 0
  await new Promise<void>(resolve => child!.once('message', () => { resolve() }))
  child.on('message', (msg: any) => { pending.get(msg.id)?.(msg); pending.delete(msg.id) })
  const call = async (op: string, args: unknown = {}): Promise<any> => {
    const msg: any = await new Promise(resolve => { const id = next++; pending.set(id, resolve); child!.send({ id, op, args }) })
    if (msg.ok !== true) throw new Error(`stock peer ${op}: ${String(msg.error?.message)}`)
    return msg.result
  }
  const t0 = performance.now()
  await call('open', { peers: [store.replication!.addresses()[0]], addresses: { chain: databases.chain } })
  let have = 0
  while (have < entries) {
    if (performance.now() - t0 > 300_000) throw new Error(`stock follower has ${have} of ${entries} entries after 300 s`)
    await new Promise(resolve => setTimeout(resolve, 100))
    have = (await call('state')).chain.entries.length
  }
  const ms = performance.now() - t0
  process.stdout.write(`[catchup] stock follower: ${entries} entries in ${ms.toFixed(0)} ms (${(entries / ms * 1000).toFixed(0)} entries/s) with ${CHAIN_LOG_REFERENCES} refs per entry\n`)
  await call('stop').catch(() => {})
} finally {
  child?.kill('SIGKILL')
  await store.stop()
  await rm(dir, { recursive: true, force: true })
}
