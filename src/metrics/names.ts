/**
 * Every metric the node exports, by name (Prometheus conventions: a
 * `chainstore_` prefix, base units, `_total` on counters, `_seconds` and
 * `_bytes` suffixes). Labels never carry personal data: operations, tiers,
 * states, peer ids, gateway hosts and rejection reasons only.
 */
export const METRIC = {
  /** Histogram, label `op`: time of each store operation. */
  OPERATION_SECONDS: 'chainstore_operation_duration_seconds',
  /** Counters, label `tier` (memory, fetched): reads answered / not answered by a cache tier. */
  CACHE_HITS: 'chainstore_cache_hits_total',
  CACHE_MISSES: 'chainstore_cache_misses_total',
  /** Gauge, label `tier`: bytes a cache tier holds. */
  CACHE_BYTES: 'chainstore_cache_bytes',
  /** Counter: fetched blocks the fetch cache evicted. */
  FETCH_CACHE_EVICTIONS: 'chainstore_fetch_cache_evictions_total',
  /** Counters: blocks and transactions written here (local writes and replicated imports). */
  BLOCKS_STORED: 'chainstore_blocks_stored_total',
  TRANSACTIONS_STORED: 'chainstore_transactions_stored_total',
  /** Gauges: canonical head and finalized height (-1: none). */
  HEAD_HEIGHT: 'chainstore_head_height',
  FINALIZED_HEIGHT: 'chainstore_finalized_height',
  /** Gauges: LevelDB's estimate of the blockstore's and the whole database's bytes on disk. */
  BLOCKSTORE_BYTES: 'chainstore_blockstore_bytes',
  DISK_BYTES: 'chainstore_disk_bytes',
  /** Gauge, label `state` (queued, pinning, pinned, failed): pin records. */
  PINS: 'chainstore_pins',
  /** Counters: GC runs, blocks deleted, bytes freed. */
  GC_RUNS: 'chainstore_gc_runs_total',
  GC_DELETED_BLOCKS: 'chainstore_gc_deleted_blocks_total',
  GC_FREED_BYTES: 'chainstore_gc_freed_bytes_total',
  /** Gauge: connected peers. */
  PEERS_CONNECTED: 'chainstore_peers_connected',
  /** 1 when replication runs (config network.enabled), else 0: what tells a node alone from a node that needs peers. */
  NETWORK_ENABLED: 'chainstore_network_enabled',
  BLOCKS_REPLICATED: 'chainstore_blocks_replicated_total',
  /** Gauge: heights this node's head trails the chain index's tip. */
  REPLICATION_LAG: 'chainstore_replication_lag_heights',
  /** Gauge, label `peer`: heights a connected peer trails the best chain known here. */
  PEER_LAG: 'chainstore_replication_peer_lag_heights',
  /** Counters: chain-index announcements applied, and entries rejected by reason. */
  ANNOUNCEMENTS_APPLIED: 'chainstore_announcements_applied_total',
  ENTRIES_REJECTED: 'chainstore_entries_rejected_total',
  /** Counter, label `result` (`checked`: verified in full, `remembered`: answered from the signature memo): log-entry and identity signature checks. */
  SIGNATURE_CHECKS: 'chainstore_signature_checks_total',
  /** Counter: `quorum`/`all` writes whose confirmations did not arrive in time. */
  QUORUM_FAILURES: 'chainstore_quorum_failures_total',
  /** Counter, labels `gateway` (host) and `outcome` (ok, not-found, wrong-bytes, …). */
  GATEWAY_REQUESTS: 'chainstore_gateway_requests_total',
  CORRUPT_READS: 'chainstore_corrupt_reads_total',
  BUILD_INFO: 'chainstore_build_info',
  /** Counter, labels `destination` (config name) and `outcome` (ok, failed): backups written by the schedule. */
  BACKUP_RUNS: 'chainstore_backup_runs_total',
  /** Counter, label `destination`: CAR bytes of the backups the schedule wrote. */
  BACKUP_BYTES: 'chainstore_backup_written_bytes_total',
  /** Gauge, label `destination`: when the last scheduled backup there succeeded (Unix seconds). */
  BACKUP_LAST_SUCCESS: 'chainstore_backup_last_success_timestamp_seconds',
  /** Counter, label `destination`: backups retention deleted. */
  BACKUP_PRUNED: 'chainstore_backup_pruned_total',
  /** Gauge, label `alert`: 1 while an alert is active. */
  ALERT_ACTIVE: 'chainstore_alert_active'
} as const

/** Store operations timed into {@link METRIC.OPERATION_SECONDS}, by method name. */
export const TIMED_OPERATIONS = [
  'storeBlocks', 'importBlocks', 'setCanonical', 'getHeader', 'getBlock', 'getTransaction', 'getReceipt',
  'getAddressHistory', 'getLogs', 'putBytes', 'getBytes', 'addFile', 'pin', 'unpin', 'gc'
] as const
export type TimedOperation = typeof TIMED_OPERATIONS[number]
