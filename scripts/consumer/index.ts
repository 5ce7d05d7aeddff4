// Strict TypeScript consumer of the packed package (scripts/consumer-test.sh):
// type-checks with strict, NodeNext and no skipLibCheck against dist/*.d.ts.
// tsconfig.json leaves `lib` at its default (which has DOM): libp2p's own
// declarations name JsonWebKey, EventInit and AddEventListenerOptions.
import {
  createChainStore, ChainStore, CID, cidOf, parseCid, encodeBlock, createLogger, parseConfig,
  identityIdFromSeed, peerIdFromSeed, ChainStoreError, InvalidConfigError, NetworkDisabledError,
  QuorumNotReachedError, InvalidNamespaceError,
  type Block, type BlockInput, type ChainStoreConfig, type ChainStoreConfigInput, type Head,
  type StoreStatus, type KvStore, type Logger
} from 'chainstore'
import { SyntheticChain } from 'chainstore/synthetic'
import { ChainstoreFollowerAccessController, chainstoreAddresses } from 'chainstore/orbitdb-access'

const input: ChainStoreConfigInput = { dataDir: '/tmp/x', network: { enabled: false }, gateways: { enabled: false } }
const config: ChainStoreConfig = parseConfig(input)
const logger: Logger = createLogger({ level: 'silent' })

export async function use (): Promise<void> {
  const store: ChainStore = await createChainStore(config, { logger })
  const chain = new SyntheticChain({ txsPerBlock: 2, addresses: 4 })
  const next: BlockInput = chain.next(store.config.limits)
  const stored = await store.storeBlock(next)
  const cid: CID = stored.cid
  const block: Block = await store.getBlock(cid)
  const head: Head | null = store.head()
  const status: StoreStatus = await store.status()
  const kv: KvStore<{ n: number }> = store.kv<{ n: number }>('app.counters')
  await kv.put('a', { n: block.transactions.length + (head?.height ?? 0) })
  const same: CID = parseCid(cid.toString())
  const again: CID = cidOf(new Uint8Array([1, 2, 3]))
  const encoded = encodeBlock(next, store.config.limits)
  const errors: Array<abstract new (...args: any[]) => ChainStoreError> = [InvalidConfigError, NetworkDisabledError, QuorumNotReachedError, InvalidNamespaceError]
  const addresses: { chain: string, validators: string, reputation: string } = await chainstoreAddresses({ name: 'chainstore', writers: [identityIdFromSeed('a')] })
  void [status, same, again, encoded, errors, identityIdFromSeed('a'), peerIdFromSeed, addresses, ChainstoreFollowerAccessController({}).type]
  await store.stop()
}
