/** Bytes in a state key (an account or validator address). Fixed, so no key is a prefix of another. */
export const STATE_KEY_BYTES = 20
/** Default byte budget of the decoded-free trie node cache (node bytes by hash). */
export const DEFAULT_NODE_CACHE_BYTES = 32 * 1024 * 1024
/** Entries per LevelDB batch while the flat layer is rebuilt from the trie. */
export const FLAT_REBUILD_BATCH = 2000
/** Verified snapshot blocks written per LevelDB batch during an import. */
export const SNAPSHOT_IMPORT_BATCH = 1000
/** `type` field of a snapshot manifest. */
export const SNAPSHOT_TYPE = 'chainstore/state-snapshot'
/** Version of the snapshot manifest layout. */
export const SNAPSHOT_VERSION = 1
/** Version of the account record encoding (first item of the record). */
export const ACCOUNT_VERSION = 1
