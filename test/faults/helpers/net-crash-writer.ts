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
 *   {t:'attestation', …}                 reserved: see ATTESTATION HOOK below
 */
import { createChainStore, type ChainStore } from '../../../src/index.ts'
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
 * ATTESTATION HOOK: when the store grows an attestation API that the crash
 * checks can read back, write one here per round and emit
 * {t:'attestation', validator, at, digest}; crash.test.ts's `checkAttestations`
 * is the matching verifier. Left undefined until then.
 */
const writeAttestation = undefined as ((store: ChainStore, round: number) => Promise<Record<string, unknown>>) | undefined

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
  if (writeAttestation != null) emit({ t: 'attestation', ...(await writeAttestation(store, round)) })
}
