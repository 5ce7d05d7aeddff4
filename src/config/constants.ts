/** Directory that holds a node's data when the config names none. */
export const DEFAULT_DATA_DIR = '.chainstore/data'
/** Largest encoded transaction accepted (bytes). */
export const DEFAULT_MAX_TX_BYTES = 128 * 1024
/** Largest block accepted: header plus every transaction and receipt page (bytes). */
export const DEFAULT_MAX_BLOCK_BYTES = 16 * 1024 * 1024
/** Largest number of transactions in one block. */
export const DEFAULT_MAX_TXS_PER_BLOCK = 20_000
/** Target size of one transaction page; a page closes before it would pass this. */
export const DEFAULT_PAGE_BYTES = 64 * 1024
/** Bytes of decoded objects the memory tier may hold. */
export const DEFAULT_CACHE_BYTES = 64 * 1024 * 1024
/** Bytes of unpinned blocks fetched from peers or gateways kept on disk (an LRU over them). */
export const DEFAULT_FETCHED_CACHE_BYTES = 256 * 1024 * 1024
/**
 * Gaps refused by default: a node that accepts a block whose parent it has never
 * seen cannot prove that block belongs to its chain, and every index query over a
 * height range would silently skip the hole. Light clients and snapshot-synced
 * nodes opt in with `allowGaps: true`.
 */
export const DEFAULT_ALLOW_GAPS = false
/** Local reads are re-hashed against their CIDs unless the config says the disk is trusted. */
export const DEFAULT_VERIFY_READS = true
/**
 * `process`: a write is acknowledged once LevelDB's write-ahead log has it in the
 * OS page cache (survives a killed process, not a power cut). `power`: fsync on
 * every batch (survives a power cut, costs throughput; see bench results).
 */
export const DEFAULT_DURABILITY = 'process'
/** Largest page size `getAddressHistory` and `kv.iterate` hand out in one call. */
export const MAX_PAGE_LIMIT = 1000
/** Page size of `getAddressHistory` when the caller names none. */
export const DEFAULT_PAGE_LIMIT = 100
/** Port of the node's read API (`chainstore start`). */
export const DEFAULT_API_PORT = 7077
/** Heights behind the best known head `/readyz` still calls in sync. */
export const DEFAULT_READY_MAX_LAG = 10
/** Window of the latency figures and the p99 alert: 5 minutes, like a Prometheus rate over [5m]. */
export const DEFAULT_ALERT_WINDOW_MS = 300_000
/** Host the read API binds to; loopback unless configured otherwise. */
export const DEFAULT_API_HOST = '127.0.0.1'
/**
 * LevelDB write buffer (memtable). LevelDB's 4 MiB default flushes to level 0
 * every few hundred blocks and stalls writers on compaction (30-60 ms spikes in
 * the ingest bench); 64 MiB sustains bulk ingest. Up to two buffers are held in
 * memory, and the log replayed after a crash is at most this large.
 */
export const DEFAULT_LEVEL_WRITE_BUFFER = 64 * 1024 * 1024
/**
 * V8 flags for a long-running storage node's process (devnet peers get them;
 * docs/DEPLOY.md's unit sets them through NODE_OPTIONS). Ingest allocates
 * fast and keeps little (~20-50 MiB live heap), and V8's default young
 * generation on a large machine (semi-spaces of up to 32 MiB) let the heap
 * stand at ~190 MiB for that; 8 MiB semi-spaces keep it near 80 MiB at the
 * same ingest rate (bench part `rss`).
 */
export const NODE_MEMORY_FLAGS = ['--max-semi-space-size=8']
/**
 * The same, trading ingest speed for memory: with no old-space limit given,
 * V8 sizes the heap for the machine (~4 GiB here), and a limit at or above
 * its default maximum (2 GiB on 64-bit) lets the old generation grow to 4×
 * its live size between full GCs (`MaxGrowingFactor` in V8's
 * src/heap/heap-controller.cc). Any limit below that scales the factor to
 * 1.3-2.0; 1 GiB gives ~1.6. Measured over 1M ingested transactions (bench
 * part `rss`, which runs it as its own group): peak anonymous RSS ~465 → ~330
 * MiB, and ingest 15-20 % slower from the extra full GCs, so it is not the
 * default. It is also a hard limit: raise it (below 2048) before setting
 * `cache.maxBytes` near it; the memory tier holds decoded objects on the heap.
 */
export const NODE_LOW_MEMORY_FLAGS = [...NODE_MEMORY_FLAGS, '--max-old-space-size=1024']
/**
 * glibc malloc settings for the same processes: two arenas instead of up to
 * eight per core, where LevelDB's batch copies (~1 MiB each) otherwise
 * scatter. Measured: ~35-40 MiB less peak anonymous RSS over 1M ingested
 * transactions at the same throughput (docs/PITFALLS.md, "Memory"). Read at
 * process start (the launcher's to set, not the library's); ignored by other
 * allocators.
 */
export const NODE_MEMORY_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' }
/** LevelDB block cache for uncompressed table blocks (LevelDB's default is 8 MiB). */
export const DEFAULT_LEVEL_CACHE = 32 * 1024 * 1024
/** Where the libp2p node listens when the config names nothing: loopback, any free port. */
export const DEFAULT_LISTEN = ['/ip4/127.0.0.1/tcp/0']
/** Prefix of the OrbitDB database names; peers of one network share it. */
export const DEFAULT_NETWORK_NAME = 'chainstore-devnet'
/** How long `quorum`/`all` writes wait for replica confirmations. */
export const DEFAULT_QUORUM_TIMEOUT_MS = 10_000
/** How long one block fetch from one peer may take before the next peer is tried. */
export const DEFAULT_FETCH_TIMEOUT_MS = 5_000
/** How long `getBytes` waits on the network for a block no peer announced. */
export const DEFAULT_NETWORK_READ_TIMEOUT_MS = 5_000
/**
 * Most block announcements in one chain-log entry. Announcements are
 * coalesced while an append is in flight (OrbitDB appends ~150 entries/s and a
 * live peer applies ~60-110 entries/s), so the batch grows with the write rate.
 */
export const DEFAULT_ANNOUNCE_BATCH = 256
/** Blocks fetched from one peer per request of the block-DAG protocol. */
export const DEFAULT_FETCH_BATCH = 32
/** Copies of every pinned block the replication loop aims for (this node included). */
export const DEFAULT_REPLICATION_FACTOR = 2
/** A peer whose aggregate reputation falls below this is disconnected. */
export const DEFAULT_MIN_REPUTATION = 0.2
/**
 * Connections a node keeps at most (libp2p's connection manager closes the
 * least valuable beyond it): bounded cost per node whatever the network's
 * size; gossipsub's mesh (D = 6) carries announcements across the overlay.
 */
export const DEFAULT_MAX_CONNECTIONS = 16
/** Below this many connected peers a node dials peers it learned of through discovery. */
export const DEFAULT_MIN_CONNECTIONS = 4
/** How often the replication queue retries and the replication-factor loop runs. */
export const DEFAULT_REPLICATION_INTERVAL_MS = 2_000
/**
 * How often every connection is pinged, and how long a ping may take before
 * the connection is dropped (libp2p's connection monitor; its own defaults
 * are 10 s and an adaptive timeout of at least 5 s). A link that went dead
 * in a partition otherwise holds OrbitDB's head exchange and bitswap wants
 * until TCP's backed-off retransmission gets through after the heal; a
 * dropped connection is redialled every `intervalMs`.
 */
export const DEFAULT_PING_INTERVAL_MS = 5_000
export const DEFAULT_PING_TIMEOUT_MS = 5_000
/**
 * Public IPFS trustless gateways the default config names. Gateway reads are
 * off unless `gateways.enabled` is set, so nothing leaves the machine by
 * default (and tests never reach these).
 */
export const DEFAULT_PUBLIC_GATEWAYS = ['https://trustless-gateway.link', 'https://ipfs.io']
/** Whole-request limit per gateway. */
export const DEFAULT_GATEWAY_TIMEOUT_MS = 10_000
/** A gateway whose body pauses this long counts as stalled. */
export const DEFAULT_GATEWAY_STALL_MS = 3_000
/** Largest CAR a gateway may send for one DAG (pins fetch whole DAGs in one request). */
export const DEFAULT_GATEWAY_MAX_CAR_BYTES = 256 * 1024 * 1024

/** Pins fetching missing blocks at the same time. */
export const DEFAULT_PIN_CONCURRENCY = 2
/**
 * Scheduled GC (Kubo's StorageMax / StorageGCWatermark): off unless
 * `gc.storageMaxBytes` is set; then GC runs when the blockstore passes
 * `watermarkPercent` of it, checked every `checkIntervalMs`.
 */
export const DEFAULT_GC_WATERMARK_PERCENT = 90
export const DEFAULT_GC_CHECK_INTERVAL_MS = 60_000

/** Alert thresholds (config `alerts`; null turns one off) and how often they are checked. */
export const DEFAULT_ALERT_LAG_HEIGHTS = 100
export const DEFAULT_ALERT_P99_MS = 500
export const DEFAULT_ALERT_REJECTED_PER_MINUTE = 10
export const DEFAULT_ALERT_INTERVAL_MS = 5_000

/** Keep score records (and the rollups built from them) this long. */
export const DEFAULT_SCORE_RETENTION_DAYS = 90
/** Keep biometric commitments this long (capped by the score retention: a commitment lives in its record). */
export const DEFAULT_COMMITMENT_RETENTION_DAYS = 30
/** Keep encrypted private payloads this long (capped by the score retention). */
export const DEFAULT_PAYLOAD_RETENTION_DAYS = 30
/** How far an attestation's timestamp may lie ahead of the node's clock. */
export const DEFAULT_MAX_CLOCK_SKEW_MS = 5 * 60_000
/** Environment variable read for the node master key when no file is configured. */
export const DEFAULT_MASTER_KEY_ENV = 'CHAINSTORE_MASTER_KEY'
/** How often remote pinning services are asked how their pins stand (and refused requests retried). */
export const DEFAULT_REMOTE_PIN_INTERVAL_MS = 30_000
/** How long one call to a remote pinning service may take. */
export const DEFAULT_REMOTE_PIN_TIMEOUT_MS = 10_000
/** Backups: bytes per uploaded part (S3 multipart part, Azure block); S3's minimum is 5 MiB. */
export const DEFAULT_BACKUP_PART_BYTES = 8 << 20
/** Backups: parts uploaded at once per object and destination. */
export const DEFAULT_BACKUP_QUEUE_SIZE = 2
/** Scheduled backups: a full backup after this many backups in a chain (the rest are incremental). */
export const DEFAULT_BACKUP_FULL_EVERY = 24
