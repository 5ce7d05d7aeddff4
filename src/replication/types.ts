import type { Libp2p } from '@libp2p/interface'
import type { Helia } from 'helia'
import type { CID } from 'multiformats/cid'
import type { AttestationStore } from '../attestations/store.ts'
import type { ChainView, ChainWriter, ImportResult } from '../chain/types.ts'
import type { EncodedBlock, IpldBlock } from '../codec/encode.ts'
import type { CodecLimits } from '../codec/types.ts'
import type { ChainStoreConfig } from '../config/index.ts'
import type { Logger } from '../logger.ts'
import type { KvStore } from '../storage/kv.ts'

/** The config slice replication reads. */
export interface ReplicationInit {
  network: ChainStoreConfig['network']
  /** Where the OrbitDB keystore and logs live (under `network/orbitdb`). */
  dataDir: string
  limits: CodecLimits
  /** Blocks whose parent is not stored may be imported. */
  allowGaps: boolean
}

/** The chain as replication reads and writes it: the chain room's contracts plus a stored block's DAG. */
export interface ReplicatedChain extends ChainView, ChainWriter {
  importBlocks: (blocks: EncodedBlock[]) => Promise<ImportResult[]>
  /** The IPLD blocks of a stored block: header first, then its pages. */
  blockDag: (cid: CID) => IpldBlock[]
}

/** Where replication reads local block bytes and writes verified ones (unpinned: a cache fill). */
export interface BlockSink {
  localBytes: (cid: CID) => Uint8Array | undefined
  /** Writes IPLD blocks the caller has hashed against their CIDs, in one batch, unpinned. */
  putVerifiedBlocks: (blocks: Array<{ cid: CID, bytes: Uint8Array }>) => Promise<void>
}

/**
 * What the replication service uses, and nothing else (js-libp2p's
 * components pattern): the host's libp2p and Helia, the chain's contracts,
 * the block sink, namespaced kv stores and a logger.
 */
export interface ReplicationComponents {
  libp2p: Libp2p
  /** Helia over the store's blockstore, on that libp2p (OrbitDB's entry storage, bitswap). */
  helia: Helia & { libp2p: Libp2p }
  chain: ReplicatedChain
  blocks: BlockSink
  kv: <V>(namespace: string) => KvStore<V>
  /** Validator attestations to replicate, when the node keeps them. */
  attestations: () => AttestationStore | null
  logger: Logger
}
