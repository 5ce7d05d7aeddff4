/**
 * chainstore: the storage layer a blockchain P2P node embeds. Blocks,
 * transactions and receipts are content-addressed (dag-cbor CIDv1, sha2-256)
 * in a LevelDB-backed Helia blockstore, indexed in the same LevelDB, and read
 * through a bounded memory tier.
 */
export { createChainStore, ChainStore, type BlockRef, type CreateOptions } from './node/index.ts'
export type { Head, StoreStatus, NetworkStatus, ReorgEvent, GetBytesOptions, PutBytesOptions, AddFileOptions, StoreOptions } from './node/index.ts'
export type { Consistency, ReplicationStats, PeerInfo, Replicator } from './replication/replicator.ts'
export type { ValidatorState } from './replication/validators.ts'
export { InvalidValidatorStateError } from './replication/validators.ts'
export { QuorumNotReachedError, PeerMisbehavedError, ProtocolRequestError, NetworkDisabledError } from './replication/errors.ts'
export { identityIdFromSeed, peerIdFromSeed } from './replication/keys.ts'
export { ForkChoice, type Announcement } from './replication/fold.ts'
export { parseConfig, loadConfig, InvalidConfigError, type ChainStoreConfig, type ChainStoreConfigInput } from './config/index.ts'
export * from './config/constants.ts'
export type * from './codec/types.ts'
export type * from './indexes/types.ts'
export type { KvStore, KvView, KvRange, KvBatchOp } from './storage/kv.ts'
export { InvalidNamespaceError } from './storage/kv.ts'
export type { PinRecord, PinReason } from './pinning/records.ts'
export type { CacheStats } from './storage/cache.ts'
export { ChainStoreError } from './errors.ts'
export * from './codec/errors.ts'
export * from './storage/errors.ts'
export { createLogger, type Logger } from './logger.ts'
export { cidOf, parseCid } from './codec/cid.ts'
export { encodeBlock, cborArray } from './codec/encode.ts'
export { CID } from 'multiformats/cid'
