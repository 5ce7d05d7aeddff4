import { z } from 'zod'
import { PRESETS, pinRuleSchema } from './pinning.ts'
import { attestationsConfigSchema } from './attestations.ts'
import {
  DEFAULT_ALLOW_GAPS, DEFAULT_VERIFY_READS, DEFAULT_API_HOST, DEFAULT_API_PORT, DEFAULT_READY_MAX_LAG, DEFAULT_ALERT_WINDOW_MS, DEFAULT_REMOTE_PIN_INTERVAL_MS, DEFAULT_REMOTE_PIN_TIMEOUT_MS, DEFAULT_CACHE_BYTES, DEFAULT_DATA_DIR,
  DEFAULT_DURABILITY, DEFAULT_MAX_BLOCK_BYTES, DEFAULT_MAX_TX_BYTES, DEFAULT_MAX_TXS_PER_BLOCK,
  DEFAULT_PAGE_BYTES, DEFAULT_LEVEL_CACHE, DEFAULT_LEVEL_WRITE_BUFFER, DEFAULT_LISTEN, DEFAULT_NETWORK_NAME,
  DEFAULT_QUORUM_TIMEOUT_MS, DEFAULT_FETCH_TIMEOUT_MS, DEFAULT_NETWORK_READ_TIMEOUT_MS, DEFAULT_ANNOUNCE_BATCH,
  DEFAULT_FETCH_BATCH, DEFAULT_REPLICATION_FACTOR, DEFAULT_MIN_REPUTATION, DEFAULT_MAX_CONNECTIONS, DEFAULT_MIN_CONNECTIONS, DEFAULT_REPLICATION_INTERVAL_MS,
  DEFAULT_PING_INTERVAL_MS, DEFAULT_PING_TIMEOUT_MS,
  DEFAULT_PUBLIC_GATEWAYS, DEFAULT_GATEWAY_TIMEOUT_MS, DEFAULT_GATEWAY_STALL_MS, DEFAULT_FETCHED_CACHE_BYTES,
  DEFAULT_PIN_CONCURRENCY, DEFAULT_GC_WATERMARK_PERCENT, DEFAULT_GC_CHECK_INTERVAL_MS, DEFAULT_GATEWAY_MAX_CAR_BYTES,
  DEFAULT_ALERT_LAG_HEIGHTS, DEFAULT_ALERT_P99_MS, DEFAULT_ALERT_REJECTED_PER_MINUTE, DEFAULT_ALERT_INTERVAL_MS,
  DEFAULT_BACKUP_PART_BYTES, DEFAULT_BACKUP_QUEUE_SIZE, DEFAULT_BACKUP_FULL_EVERY
} from './constants.ts'

/** A validator-set member: an OrbitDB identity id (hex secp256k1 public key). */
const identityId = z.string().regex(/^[0-9a-f]{66}$/, 'expected a 66-hex-digit OrbitDB identity id')

/** Peer-to-peer replication; off unless `enabled`. */
export const networkSchema = z.object({
  enabled: z.boolean().default(false),
  /** Network name: prefix of the OrbitDB databases, so separate networks never mix. */
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/).default(DEFAULT_NETWORK_NAME),
  listen: z.array(z.string()).default(DEFAULT_LISTEN),
  /** Multiaddrs peers are told to dial (a public IP or DNS name in front of a private listen address); empty: the listen addresses. */
  announce: z.array(z.string()).default([]),
  /** Multiaddrs (with /p2p/<peer id>) dialled at start. */
  peers: z.array(z.string()).default([]),
  /**
   * Devnet and tests only: derive this node's libp2p key and OrbitDB identity
   * from a seed so profiles can name each other. Without it both keys are
   * generated once and kept in the data dir.
   */
  seed: z.string().min(1).optional(),
  /** The validator set: identities allowed to append to the chain index and validator state. Empty: this node alone. */
  writers: z.array(identityId).default([]),
  /** Peer ids asked to confirm `quorum`/`all` writes. Empty: every connected peer. */
  replicas: z.array(z.string()).default([]),
  quorumTimeoutMs: z.number().int().positive().default(DEFAULT_QUORUM_TIMEOUT_MS),
  fetchTimeoutMs: z.number().int().positive().default(DEFAULT_FETCH_TIMEOUT_MS),
  readTimeoutMs: z.number().int().positive().default(DEFAULT_NETWORK_READ_TIMEOUT_MS),
  announceBatch: z.number().int().min(1).max(4096).default(DEFAULT_ANNOUNCE_BATCH),
  fetchBatch: z.number().int().min(1).max(256).default(DEFAULT_FETCH_BATCH),
  replicationFactor: z.number().int().min(1).default(DEFAULT_REPLICATION_FACTOR),
  minReputation: z.number().min(0).max(1).default(DEFAULT_MIN_REPUTATION),
  intervalMs: z.number().int().positive().default(DEFAULT_REPLICATION_INTERVAL_MS),
  /** Every connection is pinged this often; one whose ping takes longer than `pingTimeoutMs` is dropped (and redialled). */
  pingIntervalMs: z.number().int().positive().default(DEFAULT_PING_INTERVAL_MS),
  pingTimeoutMs: z.number().int().positive().default(DEFAULT_PING_TIMEOUT_MS),
  /** Connections kept at most (libp2p's connection manager); bounded cost per node whatever the network's size. */
  maxConnections: z.number().int().min(1).max(10_000).default(DEFAULT_MAX_CONNECTIONS),
  /** Below this many connected peers, peers learned of through discovery are dialled. */
  minConnections: z.number().int().min(0).default(DEFAULT_MIN_CONNECTIONS),
  /** Peer discovery: nodes announce their addresses on the network's gossipsub topic; off: only `peers` are dialled. */
  discovery: z.boolean().default(true)
}).strict().refine(n => n.minConnections <= n.maxConnections, { message: 'network.minConnections must not exceed network.maxConnections', path: ['minConnections'] })

/** An environment variable's name (config names where a credential is, never the credential). */
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name')

/** One backup destination (src/backup/destinations): a URL, its retention, and per kind the endpoint and where the credentials are. */
export const backupDestinationSchema = z.object({
  /** Label in metrics, logs and `--to <name>`. */
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'lower case letters, digits, . _ -'),
  /** `/path`, `file:///path`, `s3://bucket[/prefix]`, `azure://container[/prefix]`; no credentials. */
  url: z.string().min(1).refine(u => !/^[a-z][a-z0-9+.-]*:\/\/[^/@]*@/i.test(u), 'a destination URL must not carry credentials'),
  /** Retention: the newest `keep` backups stay (and every backup they depend on); null keeps all. */
  keep: z.number().int().min(1).nullable().default(null),
  endpoint: z.string().url().optional(),
  region: z.string().min(1).optional(),
  forcePathStyle: z.boolean().optional(),
  accessKeyIdEnv: envName.optional(),
  secretAccessKeyEnv: envName.optional(),
  sessionTokenEnv: envName.optional(),
  checksums: z.enum(['when-required', 'when-supported']).optional(),
  accountUrl: z.string().url().optional(),
  accountName: z.string().min(1).optional(),
  connectionStringEnv: envName.optional(),
  accountKeyEnv: envName.optional(),
  sasTokenEnv: envName.optional(),
  partBytes: z.number().int().min(5 * 1024 * 1024).max(4000 * 1024 * 1024).default(DEFAULT_BACKUP_PART_BYTES),
  queueSize: z.number().int().min(1).max(64).default(DEFAULT_BACKUP_QUEUE_SIZE)
}).strict()

/** Schema of the one typed config; defaults are applied here and nowhere else. */
export const configSchema = z.object({
  dataDir: z.string().min(1).default(DEFAULT_DATA_DIR),
  durability: z.enum(['process', 'power']).default(DEFAULT_DURABILITY),
  allowGaps: z.boolean().default(DEFAULT_ALLOW_GAPS),
  /** Re-hash every block and transaction read from local storage against its CID (false: a trusted disk). */
  verifyReads: z.boolean().default(DEFAULT_VERIFY_READS),
  limits: z.object({
    maxTxBytes: z.number().int().positive().default(DEFAULT_MAX_TX_BYTES),
    maxBlockBytes: z.number().int().positive().default(DEFAULT_MAX_BLOCK_BYTES),
    maxTxsPerBlock: z.number().int().positive().default(DEFAULT_MAX_TXS_PER_BLOCK),
    pageBytes: z.number().int().min(1024).default(DEFAULT_PAGE_BYTES)
  }).strict().prefault({}),
  cache: z.object({
    maxBytes: z.number().int().nonnegative().default(DEFAULT_CACHE_BYTES),
    /** Unpinned blocks fetched from peers or gateways kept on disk, LRU by bytes (0: none kept). */
    fetchedMaxBytes: z.number().int().nonnegative().default(DEFAULT_FETCHED_CACHE_BYTES)
  }).strict().prefault({}),
  level: z.object({
    writeBufferSize: z.number().int().min(1024 * 1024).default(DEFAULT_LEVEL_WRITE_BUFFER),
    cacheSize: z.number().int().nonnegative().default(DEFAULT_LEVEL_CACHE),
    checkTables: z.enum(['changed', 'all', 'off']).default('changed'),
    /** Snappy-compress LevelDB's table blocks; off saves LevelDB's threads ~9 % of their work where the chain's bytes do not compress (docs/CONFIG.md). */
    compression: z.boolean().default(true)
  }).strict().prefault({}),
  api: z.object({
    host: z.string().default(DEFAULT_API_HOST),
    port: z.number().int().min(0).max(65535).default(DEFAULT_API_PORT),
    /** `/readyz` says ready while the local head trails the best known head by at most this many heights. */
    readyMaxLag: z.number().int().nonnegative().default(DEFAULT_READY_MAX_LAG)
  }).strict().prefault({}),
  network: networkSchema.prefault({}),
  /** Which blocks this node keeps pinned (pinning/*.json); `rules` replaces the preset's rules. */
  pinning: z.object({
    preset: z.enum(PRESETS).default('archive'),
    rules: z.array(pinRuleSchema).min(1).optional(),
    /** Pins fetching missing blocks at the same time. */
    concurrency: z.number().int().min(1).max(64).default(DEFAULT_PIN_CONCURRENCY)
  }).strict().prefault({}),
  /** Scheduled garbage collection by watermark; off while `storageMaxBytes` is null. */
  gc: z.object({
    storageMaxBytes: z.number().int().positive().nullable().default(null),
    watermarkPercent: z.number().min(1).max(100).default(DEFAULT_GC_WATERMARK_PERCENT),
    checkIntervalMs: z.number().int().min(10).default(DEFAULT_GC_CHECK_INTERVAL_MS)
  }).strict().prefault({}),
  /** Verified reads from IPFS trustless gateways when neither the store nor a peer has a block. */
  gateways: z.object({
    enabled: z.boolean().default(false),
    urls: z.array(z.string().url()).default(DEFAULT_PUBLIC_GATEWAYS),
    timeoutMs: z.number().int().positive().default(DEFAULT_GATEWAY_TIMEOUT_MS),
    stallMs: z.number().int().positive().default(DEFAULT_GATEWAY_STALL_MS),
    /** Largest CAR accepted when a pin fetches a whole DAG in one request. */
    maxCarBytes: z.number().int().positive().default(DEFAULT_GATEWAY_MAX_CAR_BYTES)
  }).strict().prefault({}),
  /** Alert thresholds: logged as warnings when crossed, listed in `status().alerts` and on `/status`; null turns one off. */
  alerts: z.object({
    replicationLagHeights: z.number().int().positive().nullable().default(DEFAULT_ALERT_LAG_HEIGHTS),
    p99LatencyMs: z.number().positive().nullable().default(DEFAULT_ALERT_P99_MS),
    /** Latency figures and the p99 alert cover the calls of this last window (at most the last 1,000 per operation). */
    windowMs: z.number().int().min(1000).default(DEFAULT_ALERT_WINDOW_MS),
    diskBytes: z.number().int().positive().nullable().default(null),
    rejectedEntriesPerMinute: z.number().int().nonnegative().nullable().default(DEFAULT_ALERT_REJECTED_PER_MINUTE),
    intervalMs: z.number().int().min(10).default(DEFAULT_ALERT_INTERVAL_MS)
  }).strict().prefault({}),
  /** The IPFS Pinning Service API under /psa on the HTTP API (src/api/pinning-service.ts): off unless enabled with at least one bearer token. */
  pinningService: z.object({
    enabled: z.boolean().default(false),
    /** Bearer tokens a client may send (keep the config file private: mode 600). */
    tokens: z.array(z.string().min(16, 'a pinning service token must have at least 16 characters')).default([])
  }).strict().refine(p => !p.enabled || p.tokens.length > 0, { message: 'pinningService.enabled needs at least one token in pinningService.tokens', path: ['tokens'] }).prefault({}),
  /** The audit trail (src/audit): signed, hash-chained events of storage operations; `reads` adds one per HTTP API read (off: they are many). */
  audit: z.object({
    enabled: z.boolean().default(true),
    reads: z.boolean().default(false)
  }).strict().prefault({}),
  /** Remote pinning services as extra replicas (src/pinning/remote.ts): roots pinned here for `reasons` are pinned there too. */
  remotePinning: z.object({
    services: z.array(z.object({
      name: z.string().min(1).max(64),
      endpoint: z.string().url().refine(u => /^https?:\/\//.test(u), 'an http(s) URL'),
      token: z.string().min(1)
    }).strict()).default([]),
    reasons: z.array(z.enum(['user', 'blob', 'remote', 'chain', 'state', 'attestation'])).default(['user', 'blob']),
    intervalMs: z.number().int().min(100).default(DEFAULT_REMOTE_PIN_INTERVAL_MS),
    timeoutMs: z.number().int().min(100).default(DEFAULT_REMOTE_PIN_TIMEOUT_MS)
  }).strict().refine(r => new Set(r.services.map(x => x.name)).size === r.services.length, { message: 'remotePinning.services: names must be unique', path: ['services'] }).prefault({}),
  /** Backup destinations (`chainstore backup ... --to <name>`) and scheduled backups to them (docs/BACKUP.md). */
  backup: z.object({
    destinations: z.array(backupDestinationSchema).default([]),
    schedule: z.object({
      /** A backup to each scheduled destination this often while the node runs; null: no schedule. */
      intervalMs: z.number().int().min(1000).nullable().default(null),
      /** A full backup once a destination's newest chain holds this many backups; incremental otherwise. */
      fullEvery: z.number().int().min(1).default(DEFAULT_BACKUP_FULL_EVERY),
      /** Names of the destinations the schedule writes to (default: all). */
      destinations: z.array(z.string()).optional()
    }).strict().prefault({})
  }).strict()
    .refine(b => new Set(b.destinations.map(d => d.name)).size === b.destinations.length, { message: 'backup.destinations: names must be unique', path: ['destinations'] })
    .refine(b => (b.schedule.destinations ?? []).every(n => b.destinations.some(d => d.name === n)), { message: 'backup.schedule.destinations names a destination not in backup.destinations', path: ['schedule', 'destinations'] })
    .prefault({}),
  /** Validator attestations (src/attestations, docs/PRIVACY.md); off unless enabled, since they need a master key. */
  attestations: attestationsConfigSchema.prefault({}),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional()
}).strict()

/** What a caller may pass: every field optional. */
export type ChainStoreConfigInput = z.input<typeof configSchema>
/** The config after defaults: every field present. */
export type ChainStoreConfig = z.output<typeof configSchema>
