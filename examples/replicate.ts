/**
 * Two nodes on 127.0.0.1 replicating: a validator writes blocks with
 * `consistency: 'quorum'` and a validator-state entry; a follower learns of
 * them from the OrbitDB chain index, fetches each block's DAG by CID, verifies
 * it, indexes it and follows the canonical head. (Both nodes share a process
 * here to keep the example short; real deployments run one node per process.)
 *
 * Run: node --import ./scripts/source-exports.mjs examples/replicate.ts   (exits 0; the
 * test suite runs it, and the consumer test against the packed package)
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createChainStore, createLogger, identityIdFromSeed } from 'chainstore'
import { SyntheticChain } from 'chainstore/synthetic'

const dir = await mkdtemp(join(tmpdir(), 'chainstore-replicate-'))
const logger = createLogger({ level: 'warn' })
// the validator set: identities allowed to append to the chain index (seeds are for devnets only)
const writers = [identityIdFromSeed('validator-1')]

const validator = await createChainStore({ dataDir: join(dir, 'validator'), network: { enabled: true, seed: 'validator-1', writers } }, { logger })
const follower = await createChainStore({
  dataDir: join(dir, 'follower'),
  network: { enabled: true, seed: 'follower-1', writers, peers: validator.replication!.addresses() }
}, { logger })

try {
  const heads: number[] = []
  follower.events.on('head', (h: { height: number }) => heads.push(h.height))
  const chain = new SyntheticChain({ txsPerBlock: 50, addresses: 100 })
  // wait until the follower is connected, so the quorum has a replica to confirm
  while (validator.replication!.libp2p.getConnections().length === 0) await new Promise(r => setTimeout(r, 50))
  for (let i = 0; i < 10; i++) {
    // returns once a majority of replicas hold the block verified and pinned
    await validator.storeBlock(chain.next(validator.config.limits), { consistency: 'quorum' })
  }
  await validator.replication!.putValidator('validator-1', { stake: '1000', status: 'active', lastSeen: Date.now() })

  const deadline = Date.now() + 30_000
  while ((follower.head()?.height ?? -1) < 9 || (await follower.replication!.validators()).length === 0) {
    if (Date.now() > deadline) throw new Error('follower did not catch up in 30 s')
    await new Promise(r => setTimeout(r, 100))
  }
  const block = await follower.getBlock(9)
  const status = await follower.status()
  console.log(JSON.stringify({
    validatorHead: validator.head()!.height,
    followerHead: follower.head()!.height,
    sameBlock: block.cid.equals(validator.head()!.cid),
    followerHeadEvents: heads.length,
    validators: (await follower.replication!.validators()).map(v => v.id),
    blocksFetched: status.network!.stats.blocksFetched
  }))
} finally {
  await follower.stop()
  await validator.stop()
  await rm(dir, { recursive: true, force: true })
}
