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
/** Most sender attributions of gossiped entries kept (to charge refused entries to their sender). */
export const MAX_ENTRY_SENDERS = 10_000
/** How long a head sent alone to a stock OrbitDB peer (one head per stream) may take, dial included. */
export const STOCK_HEAD_TIMEOUT_MS = 10_000
