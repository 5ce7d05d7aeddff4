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
/**
 * Gaps refused by default: a node that accepts a block whose parent it has never
 * seen cannot prove that block belongs to its chain, and every index query over a
 * height range would silently skip the hole. Light clients and snapshot-synced
 * nodes opt in with `allowGaps: true`.
 */
export const DEFAULT_ALLOW_GAPS = false
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
/** Host the read API binds to; loopback unless configured otherwise. */
export const DEFAULT_API_HOST = '127.0.0.1'
/**
 * LevelDB write buffer (memtable). LevelDB's 4 MiB default flushes to level 0
 * every few hundred blocks and stalls writers on compaction (30-60 ms spikes in
 * the ingest bench); 64 MiB sustains bulk ingest. Up to two buffers are held in
 * memory, and the log replayed after a crash is at most this large.
 */
export const DEFAULT_LEVEL_WRITE_BUFFER = 64 * 1024 * 1024
/** LevelDB block cache for uncompressed table blocks (LevelDB's default is 8 MiB). */
export const DEFAULT_LEVEL_CACHE = 32 * 1024 * 1024
