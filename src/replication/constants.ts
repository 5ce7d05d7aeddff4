/** Subdirectory of the data dir holding the node's keys and OrbitDB's files. */
export const NETWORK_DIR = 'network'
/** kv key prefix of the persistent replication queue (blocks waiting for replica confirmations). */
export const QUEUE_PREFIX = 'q/'
/** kv key of the highest height announced in the chain log. */
export const ANNOUNCED_KEY = 'announced'
/** How long `stop` lets OrbitDB finish before aborting its network reads. */
export const STOP_GRACE_MS = 2_000
/** How long announcements wait for more before an append. */
export const ANNOUNCE_LINGER_MS = 50
/** Least time between two head exchanges this node re-runs for one database and peer. */
export const RESYNC_MIN_MS = 15_000
/**
 * How long a peer's head must stay missing here before anti-entropy acts:
 * pubsub usually brings a fresh head first, and a joiner's first exchange of
 * a long log takes seconds (an extra exchange then only queues behind it).
 */
export const LACK_GRACE_MS = 10_000
/** Blocks whose fetch requests run at once during catch-up. */
export const FETCH_CONCURRENCY = 4
/** Fetched blocks a sync round keeps for the next one when their parents are not imported yet, in units of `fetchBatch`. */
export const EARLY_BLOCKS_PER_BATCH = 2 * FETCH_CONCURRENCY
/** Most sender attributions of gossiped entries kept (to charge refused entries to their sender). */
export const MAX_ENTRY_SENDERS = 2_000
/** How long a head sent alone to a stock OrbitDB peer (one head per stream) may take, dial included. */
export const STOCK_HEAD_TIMEOUT_MS = 10_000
/**
 * `refs` per chain-log entry (OrbitDB's default is 16). Each costs on every
 * append (the writer walks and decodes that many entries back) and on every
 * join (OrbitDB re-checks each ref the new entry names, though it is in the
 * log already). They only speed up a walk that fetches entries one round
 * trip at a time: chainstore peers catch up through the log prefetch, so
 * what remains is a stock OrbitDB follower's catch-up, which fetches ~this
 * many entries per round trip.
 */
export const CHAIN_LOG_REFERENCES = 4
/**
 * A connection younger than this is never closed to keep a slot free
 * (headroom.ts): time for a newcomer to hear the network's peer
 * announcements and dial peers of its own.
 */
export const HEADROOM_GRACE_MS = 10_000
/** How long a node stays at its connection limit before it closes one to keep a slot free, and between two closes (headroom.ts). */
export const HEADROOM_FULL_MS = 30_000
