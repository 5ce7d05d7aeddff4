import type { PinState } from '../pinning/records.ts'
import type { CacheStats } from '../storage/cache.ts'
import type { FetchCacheStats } from '../storage/fetch-cache.ts'

/** What the metrics read of the store's status (the node's `StoreStatus` holds all of it). */
export interface StatusReading {
  head: { height: number } | null
  /** Highest finalized canonical height (-1: none). */
  finalized: number
  cache: CacheStats
  fetchCache: FetchCacheStats
  blockstoreBytes: number
  diskBytes: number
  /** Replication, when on. */
  network?: { connectedPeers: number, lag: number, stats: Record<string, unknown>, signatureChecks?: { checked: number, remembered: number } }
}

/** Thresholds (config `alerts`); null turns one off. */
export interface AlertThresholds {
  /** Local head behind the chain index's tip, or any peer behind the best chain, by more than this. */
  replicationLagHeights: number | null
  /** p99 of any operation over its calls in the last `windowMs` (at most the last 1,000) above this. */
  p99LatencyMs: number | null
  /** The time window latency figures and the p99 alert look at: an idle node's old slow calls age out and the alert clears. */
  windowMs: number
  /** The data dir's bytes on disk above this. */
  diskBytes: number | null
  /** Replicated entries rejected in the last minute above this. */
  rejectedEntriesPerMinute: number | null
  /** How often alerts are evaluated (and rates sampled for the dashboard, every second regardless). */
  intervalMs: number
}

/** An alert that is firing. */
export interface Alert {
  name: 'replication-lag' | 'p99-latency' | 'disk-usage' | 'rejected-entries'
  message: string
  value: number
  threshold: number
  /** Milliseconds since the epoch when it started firing. */
  since: number
}

/** One dashboard sample: cumulative counters at a moment. */
export interface RateSample {
  at: number
  blocks: number
  transactions: number
  /** Blocks this node received from peers (replicated imports). */
  replicated: number
  /** Announcements applied from the chain index. */
  announcements: number
}

/** What the metrics read from the store when scraped or sampled. */
export interface MetricsSource {
  status: () => Promise<StatusReading>
  /** Pin records by state (a key scan; cached by the caller). */
  pinCounts: () => Promise<Record<PinState, number>>
  /** Connected peers with their lag (null without replication). */
  peerLags: () => Array<{ peer: string, lag: number | null }> | null
  /** Chain-index announcements applied so far (0 without replication). */
  announcementsApplied: () => number
}
