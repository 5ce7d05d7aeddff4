import type { CID } from 'multiformats/cid'
import type { CacheStats } from '../storage/cache.ts'
import type { FetchCacheStats } from '../storage/fetch-cache.ts'
import type { Alert } from '../metrics/index.ts'

/** The latest stored block. */
export interface Head {
  height: number
  cid: CID
}

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
  stats: Record<string, unknown>
}

/** Options of `getBytes`. */
export interface GetBytesOptions {
  signal?: AbortSignal
  /** How long to wait on the network for a block not stored here (default config `network.readTimeoutMs`). */
  timeoutMs?: number
}

/** Options of `putBytes`. */
export interface PutBytesOptions {
  /** `raw` (default) or `dag-cbor`; dag-cbor bytes must decode. */
  codec?: 'raw' | 'dag-cbor'
  /** Record a pin so the bytes are kept (default true). */
  pin?: boolean
  signal?: AbortSignal
}

/** Options of `addFile`. */
export interface AddFileOptions {
  signal?: AbortSignal
}

/** What `setCanonical` changed: the canonical blocks removed and added past the fork point. */
export interface ReorgEvent {
  from: Head | null
  to: Head
  /** Height of the last block both chains share (-1 when none). */
  forkHeight: number
  /** Blocks taken off the canonical chain, lowest first. */
  removed: CID[]
  /** Blocks put on it, lowest first. */
  added: CID[]
}
