import type { Libp2p, PeerId } from '@libp2p/interface'
import type { Helia } from 'helia'
import type { CID } from 'multiformats/cid'
import type { AttestationStore } from '../attestations/store.ts'
import type { ChainView, ChainWriter, ImportResult } from '../chain/types.ts'
import type { EncodedBlock, IpldBlock } from '../codec/encode.ts'
import type { CodecLimits } from '../codec/types.ts'
import type { ChainStoreConfig } from '../config/index.ts'
import type { Logger } from '../logger.ts'
import type { KvStore } from '../storage/kv.ts'
import type { RejectReason } from './access.ts'
import type { Announcement, ForkChoice } from './fold.ts'
import type { PeerHead } from './head-protocol.ts'
import type { Reputation } from './reputation.ts'

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
  /** The IPLD blocks of a stored block: header first, then its pages (bytes valid until the caller's next await). */
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

/** Counters the status API and the metrics registry read. */
export interface ReplicationStats {
  /** When start() began (ms since epoch): index-sync rates are measured from it. */
  startedAt: number
  announced: number
  announceFailures: number
  announcementEntries: number
  announcementsApplied: number
  logEntriesPrefetched: number
  rejected: number
  rejectedByReason: Partial<Record<RejectReason, number>>
  blocksFetched: number
  bytesFetched: number
  /** Fetched blocks that were already stored here when they arrived (fetched twice); 0 is the goal. */
  duplicateFetches: number
  fetchFailures: number
  misbehaving: number
  bitswapFallbacks: number
  quorumWrites: number
  quorumFailures: number
  acksServed: number
  queued: number
  /** Head exchanges re-run with a peer whose log heads this node lacked (anti-entropy). */
  resyncs: number
  /** Connections this node closed at its limit to keep a slot free for newcomers (headroom.ts). */
  connectionsTrimmed: number
}

/** Per-peer view for `chainstore peers` and the API. */
export interface PeerInfo {
  peerId: string
  addresses: string[]
  reputation: number
  observers: number
  banned: boolean
  /** The peer's head from its last HEAD_PROTOCOL reply (null before one). */
  head: { height: number, finalized: number } | null
  /** Heights it trails the best chain known here (null before a reply). */
  lag: number | null
}

/** One block waiting in the replication queue for its copies. */
export interface QueueEntry { height: number, needed: number, confirmed: string[], since: number }

/** The peers part, as the other parts call it. */
export interface PeersPart {
  /** Charges a peer that broke a protocol. */
  penalize: (peer: string, why: string) => void
  /** Connected, unbanned peers, best reputation first. */
  byReputation: () => PeerId[]
}

/** The sync part, as the other parts call it. */
export interface SyncPart {
  /** Runs a sync round soon (or another one after the current). */
  schedule: () => void
  /** Blocks of the sync round in flight (by CID string). */
  readonly fetching: Set<string>
  /** Blocks of the sync round being asked of a peer right now (by CID string): a part of `fetching`. */
  readonly requesting: Set<string>
  /** Blocks a replica confirmation is fetching (by CID string); the sync round leaves them. */
  readonly ackFetching: Set<string>
  /** A block a sync round fetched and kept for later (its parent was not imported yet), taken out; undefined if none. */
  takeFetched: (cid: string) => EncodedBlock | undefined
  /** Keeps fetched, verified blocks that cannot be imported yet for the sync round that will need them. */
  keepFetched: (blocks: EncodedBlock[]) => void
  /** Blocks from one peer over BLOCKS_PROTOCOL, rebuilt and verified. */
  fetchFrom: (peer: PeerId, want: CID[], signal?: AbortSignal) => Promise<EncodedBlock[]>
  /** Resolves after the next import of fetched blocks (a round's or a confirmation's). */
  landed: () => Promise<void>
  /** Wakes whoever waits on `landed` (after an import of fetched blocks). */
  noteLanded: () => void
}

/**
 * What the parts of the replication service share: their slice of config,
 * the components, the counters and views the status reads, and each other
 * (by the small interfaces above, so no part imports another).
 */
export interface ReplicationContext {
  init: ReplicationInit
  net: ReplicationInit['network']
  components: ReplicationComponents
  chain: ReplicatedChain
  blocks: BlockSink
  libp2p: Libp2p
  log: Logger
  /** The `replication` kv namespace (queue, announced marker). */
  kv: KvStore<any>
  stats: ReplicationStats
  fold: ForkChoice
  /** Connected peers' heads, refreshed every tick (HEAD_PROTOCOL). */
  peerHeads: Map<string, PeerHead & { at: number }>
  /** Aborted by stop: every network wait of the service ends with it. */
  signal: AbortSignal
  stopped: () => boolean
  peerId: () => string
  /** Set once the databases are open. */
  reputation: () => Reputation | undefined
  peers: PeersPart
  sync: SyncPart
  announce: (list: Announcement[]) => void
}
