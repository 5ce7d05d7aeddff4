import type { Libp2p } from '@libp2p/interface'
import type { Head } from '../chain/types.ts'
import type { CacheStats } from '../storage/cache.ts'
import type { FetchCacheStats } from '../storage/fetch-cache.ts'
import type { Alert } from '../metrics/types.ts'

export type { Head, ReorgEvent, StoreOptions, Consistency, BlockEvent, ImportResult } from '../chain/types.ts'
export type { PutBytesOptions, AddFileOptions, CatOptions } from '../files/types.ts'

/** What `status()` reports. */
export interface StoreStatus {
  dataDir: string
  head: Head | null
  durability: 'process' | 'power'
  allowGaps: boolean
  cache: CacheStats
  /** The on-disk tier of unpinned blocks fetched from peers or gateways. */
  fetchCache: FetchCacheStats
  /** Highest finalized canonical height (-1: none). */
  finalized: number
  /** Holds not yet pinned (fetching or failed), by state. */
  pins: { queued: number, pinning: number, failed: number }
  /** LevelDB's estimate of the bytes on disk (SST files only: the memtable is not counted). */
  approximateBytes: number
  /** Bytes the data dir's files take (LevelDB files, logs, network keys), measured at most every 2 s. */
  diskBytes: number
  /** LevelDB's estimate of the blockstore's bytes (what the GC watermark compares). */
  blockstoreBytes: number
  /** Alerts firing (config `alerts`). */
  alerts: Alert[]
  /** p50/p99 in ms of each store operation over its last 1,000 calls. */
  latencyMs: Record<string, { p50: number, p99: number, count: number }>
  /**
   * Set once a LevelDB write failed: the store fails stop and refuses every
   * write (WriteFailedError) until the data dir is reopened; null while writable.
   */
  writesRefused: string | null
  /** Replication, when `network.enabled`. */
  network?: NetworkStatus
}

/** What `status()` reports about replication. */
export interface NetworkStatus {
  peerId: string
  identity: string
  addresses: string[]
  connectedPeers: number
  /** Canonical tip of the chain index fold (may be ahead of the local head while blocks arrive). */
  indexTip: { height: number, cid: string } | null
  /** Heights the local head trails the fold's tip by. */
  lag: number
  /** Blocks waiting for replica confirmations. */
  queued: number
  /** OrbitDB addresses of the replicated databases: what another node (or a stock OrbitDB app) opens to follow this network. */
  databases: { chain: string, validators: string, reputation: string }
  /** Peer discovery (null: `network.discovery` off): peers known, announcements heard, peers dialled. */
  discovery: { known: number, heard: number, dialled: number } | null
  /** Log-entry and identity signature checks run in full vs answered from memory. */
  signatureChecks: { checked: number, remembered: number }
  stats: Record<string, unknown>
}

/** What `/healthz` and `/readyz` answer from (cheap: no disk walk, no I/O). */
export interface Health {
  /** The store is open (LevelDB open, rooms started) and writable (false after a failed LevelDB write, which only a restart clears). */
  live: boolean
  /** Open, and with the network on: connected to a peer and within `maxLag` heights of the best head known. */
  ready: boolean
  /** Why not ready (empty when ready). */
  reasons: string[]
  head: number | null
  /** With the network on: distinct connected peers and heights behind the chain index's tip. */
  network?: { connectedPeers: number, lag: number, maxLag: number }
}

/** Options of `getBytes`. */
export interface GetBytesOptions {
  signal?: AbortSignal
  /** How long to wait on the network for a block not stored here (default config `network.readTimeoutMs`). */
  timeoutMs?: number
}

/** What the application hands to `createChainStore` of its own stack. */
export interface HostParts {
  /** The application's own libp2p node: chainstore registers its protocols and topics on it and opens no host of its own. */
  libp2p?: Libp2p
}
