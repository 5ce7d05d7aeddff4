/**
 * How a P2P node embeds chainstore: open the store next to the node's other
 * state, store blocks as consensus finalises them, answer peers' and RPC reads
 * from it, keep the node's own records in kv namespaces, and stop cleanly.
 *
 * Run: npm run example   (exits 0; CI runs it here and against the packed package)
 * In a source checkout scripts/source-exports.mjs resolves `chainstore` to src/:
 * node --import ./scripts/source-exports.mjs examples/embed.ts
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createChainStore, createLogger } from 'chainstore'
import { SyntheticChain } from 'chainstore/synthetic'

const dir = await mkdtemp(join(tmpdir(), 'chainstore-embed-'))
const logger = createLogger({ level: 'warn' })
const store = await createChainStore({ dataDir: join(dir, 'data') }, { logger })

try {
  // 1. Consensus hands over finalised blocks; a producer stands in for it here.
  const producer = new SyntheticChain({ txsPerBlock: [50, 100], addresses: 200 })
  for (let round = 0; round < 5; round++) {
    const finalised = producer.take(4, store.config.limits)
    const stored = await store.storeBlocks(finalised) // one LevelDB batch for all four
    const last = stored[stored.length - 1]
    // 2. Record the round in the node's own namespace, atomically with its metadata.
    await store.kv<{ height: number, block: string }>('consensus.rounds').batch([
      { type: 'put', key: `round/${String(round).padStart(8, '0')}`, value: { height: last.height, block: last.cid.toString() } }
    ])
  }

  // 3. Serve reads: a peer asks for a block by height, a wallet for its history.
  const head = store.head()!
  const block = await store.getBlock(head.height)
  const someone = block.transactions[0].from
  const history = await store.getAddressHistory(someone, { limit: 10, reverse: true })
  const tx = await store.getTransaction(block.txIds[0])
  const receipt = await store.getReceipt(block.txIds[0])

  // 4. Other peers and IPFS tooling fetch the same bytes by CID through Helia.
  let bytes = 0
  for await (const chunk of store.helia.blockstore.get(block.cid)) bytes += chunk.length

  // 5. A consistent multi-key read of the node's records.
  const view = store.kv('consensus.rounds').snapshot()
  let rounds = 0
  for await (const _ of view.iterate()) rounds++
  await view.close()

  console.log(JSON.stringify({
    head: head.height,
    headCid: head.cid.toString(),
    txsInHead: block.transactions.length,
    historyOf: someone,
    historyItems: history.items.length,
    txHeight: tx.height,
    receiptStatus: receipt.receipt.status,
    headerBytesViaHelia: bytes,
    rounds
  }))
  if (rounds !== 5 || head.height !== 19 || bytes === 0) throw new Error('example did not store what it should have')
} finally {
  await store.stop()
  await rm(dir, { recursive: true, force: true })
}
