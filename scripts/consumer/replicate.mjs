// Plain JavaScript ESM consumer of the packed package (scripts/consumer-test.sh):
// two stores in temporary directories, networking on 127.0.0.1 only, gateways
// off; blocks stored on one are read back there and replicated to the other.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createChainStore, createLogger, identityIdFromSeed } from 'chainstore'
import { SyntheticChain } from 'chainstore/synthetic'

const dir = await mkdtemp(join(tmpdir(), 'chainstore-consumer-'))
const logger = createLogger({ level: 'warn' })
const writers = [identityIdFromSeed('consumer-writer')]
// nothing but loopback: listen on 127.0.0.1, dial only the other store, no gateways
const network = { enabled: true, listen: ['/ip4/127.0.0.1/tcp/0'], writers }
const a = await createChainStore({ dataDir: join(dir, 'a'), gateways: { enabled: false }, network: { ...network, seed: 'consumer-writer' } }, { logger })
let b
try {
  const peers = a.replication.addresses()
  if (!peers.every(p => p.startsWith('/ip4/127.0.0.1/'))) throw new Error(`store a listens beyond loopback: ${peers.join(', ')}`)
  b = await createChainStore({ dataDir: join(dir, 'b'), gateways: { enabled: false }, network: { ...network, seed: 'consumer-reader', peers } }, { logger })

  const chain = new SyntheticChain({ txsPerBlock: 20, addresses: 50 })
  const stored = await a.storeBlocks(chain.take(5, a.config.limits))
  const last = stored[stored.length - 1]
  const local = await a.getBlock(last.height)
  if (!local.cid.equals(last.cid) || local.transactions.length !== 20) throw new Error('store a did not read back what it stored')

  const deadline = Date.now() + 60_000
  while ((b.head()?.height ?? -1) < last.height) {
    if (Date.now() > deadline) throw new Error(`store b did not replicate height ${last.height} in 60 s (at ${b.head()?.height ?? 'none'})`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  const remote = await b.getBlock(last.height)
  if (!remote.cid.equals(last.cid) || remote.txIds.map(String).join() !== local.txIds.map(String).join()) throw new Error('store b holds a different block')
  process.stdout.write(JSON.stringify({ stored: stored.length, head: last.height, cid: last.cid.toString(), replicated: true }) + '\n')
} finally {
  await b?.stop()
  await a.stop()
  await rm(dir, { recursive: true, force: true })
}
