/**
 * Child program of test/faults/crash.test.ts: a store with replication on
 * (its own seed and validator set, no peers) that writes, until killed,
 * blocks (announced into the chain log), validator puts, raw blobs with
 * pin:false and user pins of them, reporting each acknowledged write
 * (helpers/lines.ts protocol):
 *
 *   {t:'ready', next}                    store open, chain resumed
 *   {t:'block', height, cid, txIds}      acknowledged storeBlocks entry
 *   {t:'validator', id, stake}           acknowledged putValidator
 *   {t:'blob', cid}                      acknowledged putBytes (pin:false)
 *   {t:'pin', cid}                       acknowledged store.pin (recursive:false)
 *   {t:'attestation', validator, height, score, digest, payload}
 *                                        acknowledged attestations.ingest of one
 *                                        attestation of the node's own validator
 *                                        (published to the attestations log)
 *
 * Attestations are on: the master key comes from CHAINSTORE_MASTER_KEY in the
 * environment the parent passes down (the same key for every cycle of a data dir).
 */
import { createChainStore, type ChainStore } from '../../../src/index.ts'
import { commitSample } from '../../../src/attestations/index.ts'
import { encodeBlock } from '../../../src/codec/encode.ts'
import { createLogger } from '../../../src/logger.ts'
import { SyntheticChain } from '../../../src/synthetic/chain.ts'
import { emit } from './lines.ts'

export interface NetCrashArgs {
  /** Kill cycle: stakes are 1000 + cycle × 1,000,000 + round, so a later write always carries a larger stake. */
  cycle: number
  dataDir: string
  seed: number
  identitySeed: string
  writers: string[]
  txsPerBlock: [number, number]
  addresses: number
  dataBytes: number
}
const args = JSON.parse(process.argv[2]) as NetCrashArgs
let phase = 'open'
const fail = (err: unknown): never => { emit({ t: 'error', phase, name: (err as Error)?.name, message: String((err as Error)?.message ?? err) }); process.exit(3) }
process.on('uncaughtException', fail)
process.on('unhandledRejection', fail)
process.stdin.on('end', () => process.exit(4)).resume()

const store = await createChainStore({
  dataDir: args.dataDir,
  attestations: { enabled: true },
  network: { enabled: true, seed: args.identitySeed, writers: args.writers, listen: ['/ip4/127.0.0.1/tcp/0'], intervalMs: 500 }
}, { logger: createLogger({ level: 'silent' }) })

phase = 'resume'
const limits = store.config.limits
const chain = new SyntheticChain({ seed: args.seed, txsPerBlock: args.txsPerBlock, addresses: args.addresses, dataBytes: args.dataBytes })
const head = store.head()
if (head != null) {
  while (chain.height < head.height) chain.next(limits)
  const atHead = encodeBlock(chain.next(limits), limits)
  if (atHead.cid.toString() !== head.cid.toString()) throw new Error(`stored head ${head.height} is not the regenerated chain's block`)
}
emit({ t: 'ready', next: chain.height })

/**
 * One attestation per round for the node's own validator (its identity id, so
 * the attestations log publishes it), at height cycle × 1,000,000 + round so
 * heights never repeat across cycles; the score, commitment digest and sealed
 * payload go into the acknowledgement for the parent to compare.
 */
const SECRET = new Uint8Array(32).fill(9)
async function writeAttestation (store: ChainStore, round: number): Promise<Record<string, unknown>> {
  const validator = store.replication!.identityId
  const height = args.cycle * 1_000_000 + round
  const score = ((round * 37) % 101) / 100
  const commitment = commitSample(new TextEncoder().encode(`sample ${height}`), SECRET)
  const payload = { cycle: args.cycle, round, note: `round ${round}` }
  await store.attestations!.ingest([{ validator, height, timestamp: Date.now(), score, commitment, payload }])
  return { validator, height, score, digest: Buffer.from(commitment.digest).toString('hex'), payload }
}

phase = 'write'
for (let round = 0; ; round++) {
  const stored = await store.storeBlocks(chain.take(1 + (round % 3), limits))
  for (const b of stored) emit({ t: 'block', height: b.height, cid: b.cid.toString(), txIds: b.txIds.map(String) })
  const id = `val-${round % 12}`
  const stake = 1000 + args.cycle * 1_000_000 + round
  const state = { stake: String(stake), status: 'active' as const, lastSeen: round }
  await store.replication!.putValidator(id, state)
  emit({ t: 'validator', id, stake })
  if (round % 2 === 0) {
    const bytes = new TextEncoder().encode(`blob ${args.seed} ${round} `.repeat(1 + (round % 50)))
    const cid = await store.putBytes(bytes, { pin: false })
    emit({ t: 'blob', cid: cid.toString() })
    await store.pin(cid, { recursive: false })
    emit({ t: 'pin', cid: cid.toString() })
  }
  emit({ t: 'attestation', ...(await writeAttestation(store, round)) })
}
