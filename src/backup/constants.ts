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
/** Default bytes per uploaded part (S3 multipart part, Azure block): S3's minimum part is 5 MiB. */
export const DEFAULT_PART_BYTES = 8 << 20
/** Default parts uploaded at once per object. */
export const DEFAULT_UPLOAD_QUEUE = 2
/** Attempts per request to a remote destination (the SDKs' retry, with backoff) before it counts as unavailable. */
export const DESTINATION_MAX_ATTEMPTS = 3
/** First retry delay of the Azure SDK's retry policy (it doubles). */
export const DESTINATION_RETRY_DELAY_MS = 200
/** CAR bytes produced before a chunk goes to the destinations: one write or part per chunk. */
export const CAR_CHUNK_BYTES = 4 << 20
/** Chunks queued per destination before the CAR writer waits for the slowest upload. */
export const CAR_QUEUED_CHUNKS = 2
