/** `type` of a backup manifest. */
export const MANIFEST_TYPE = 'chainstore/backup'
/** Version of the manifest and CAR layout. */
export const MANIFEST_VERSION = 1
/** File name of the manifest inside a backup's directory. */
export const MANIFEST_FILE = 'manifest.cbor'
/** `type` of the root block of each CAR. */
export const CHAIN_ROOT_TYPE = 'chainstore/backup-chain'
export const CHAIN_PAGE_TYPE = 'chainstore/backup-chain-page'
export const STATE_ROOT_TYPE = 'chainstore/backup-state'
export const STATE_PAGE_TYPE = 'chainstore/backup-state-page'
export const PINS_ROOT_TYPE = 'chainstore/backup-pins'
/** Heights (or state roots) per index page. */
export const INDEX_PAGE_ENTRIES = 1000
/** CAR file names inside a backup's directory. */
export const CHAIN_CAR = 'chain.car'
export const STATE_CAR = 'state.car'
export const PINS_CAR = 'pins.car'
/** Verified blocks written per LevelDB batch during a restore. */
export const RESTORE_BATCH_BLOCKS = 1000
/** Emit progress every this many blocks. */
export const PROGRESS_EVERY = 500
/** A chain block's scope in a backup: nothing stored, the header alone, or the header and every page. */
export const SCOPE_NONE = 0
export const SCOPE_HEADER = 1
export const SCOPE_DAG = 2
