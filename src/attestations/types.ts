import type { CID } from 'multiformats/cid'
import type { Logger } from '../logger.ts'
import type { BlocksDb, RootDb } from '../storage/level.ts'
import type { WriteBatch } from '../storage/types.ts'
import type { COMMITMENT_SCHEMES, RESOLUTIONS } from './constants.ts'

/** How a biometric sample was committed to. */
export type CommitmentScheme = typeof COMMITMENT_SCHEMES[number]

/**
 * A commitment to a biometric sample: nothing in it lets anyone without the
 * validator's secret (or salt) recover the sample or test a guess.
 */
export interface BiometricCommitment {
  scheme: CommitmentScheme
  /** 32 bytes: HMAC-SHA-256(secret, nonce ‖ sample) or SHA-256(salt ‖ sample). */
  digest: Uint8Array
  /** 16 random bytes, `hmac-sha256` only: two commitments to one sample differ, so rounds cannot be linked by digest. */
  nonce?: Uint8Array
}

/** A private payload: opaque bytes, or a plain object (dag-cbor encodable, checked for raw biometric fields). */
export type PrivatePayload = Uint8Array | Record<string, unknown>

/** What a validator submits for one round. */
export interface AttestationInput {
  /** Public validator id: 1-128 characters of [A-Za-z0-9._:-]. */
  validator: string
  /** Consensus round (block height). One attestation per validator and height. */
  height: number
  /** Milliseconds since the epoch (UTC). */
  timestamp: number
  /** Emotional score in [0, 1]; what the rollups aggregate. */
  score: number
  /** Named score dimensions in [0, 1] (kept with the record, not aggregated). */
  scores?: Record<string, number>
  commitment: BiometricCommitment
  /** Encrypted under the validator's data key before it is stored. */
  payload?: PrivatePayload
}

/** An attestation as stored and returned by queries (never the payload's plaintext). */
export interface AttestationRecord {
  validator: string
  height: number
  timestamp: number
  score: number
  scores?: Record<string, number>
  /** Absent once the commitment retention has passed. */
  commitment?: BiometricCommitment
  /** CID of the sealed payload (a raw block of ciphertext); absent when none, or once swept. */
  payload?: CID
}

/**
 * An attestation as replicated: the record plus the sealed payload bytes.
 * The ciphertext is opaque to every node but the one holding the validator's
 * data key.
 */
export interface WireAttestation extends Omit<AttestationRecord, 'payload'> {
  sealedPayload?: Uint8Array
}

/** Attestations written by one `ingest`, as a replicator publishes them. */
export interface AttestationBatch {
  attestations: WireAttestation[]
}

/** What `ingest` and `applyRemote` did. */
export interface IngestResult {
  stored: number
  /** Already stored with the same content. */
  duplicates: number
  /** Of an erased validator, dated at or before the erasure. */
  erased: number
  /** Older than the score retention. */
  expired: number
}

/** An erasure: who and when, nothing else. Replicated so every peer erases too. */
export interface ErasureRecord {
  validator: string
  /** Milliseconds since the epoch. */
  erasedAt: number
}

/** What an erasure removed on this node. */
export interface ErasureResult extends ErasureRecord {
  records: number
  payloads: number
  /** Whether a data key existed here and was destroyed. */
  keyDestroyed: boolean
}

/** A rollup resolution. */
export type Resolution = typeof RESOLUTIONS[number]

/** Aggregates of the scores in one bucket. */
export interface BucketAggregate {
  /** Bucket start: a height for `round`, else milliseconds since the epoch. */
  bucket: number
  count: number
  mean: number
  min: number
  max: number
  /** Nearest-rank percentiles from the bucket's histogram (within half a bin, 0.005, of exact). */
  p50: number
  p90: number
}

/** Bounds of a series query: by time or by height, half-open [from, to). */
export interface RangeQuery {
  fromTime?: number
  toTime?: number
  fromHeight?: number
  toHeight?: number
  /** 1..MAX_RANGE_LIMIT (default DEFAULT_RANGE_LIMIT). */
  limit?: number
  reverse?: boolean
  signal?: AbortSignal
}

/** An aggregate query: per bucket over [from, to) (heights for `round`, else milliseconds). */
export interface AggregateQuery {
  /** One validator's buckets; omitted: the whole network's. */
  validator?: string
  resolution: Resolution
  from: number
  to: number
  signal?: AbortSignal
}

/** A time window, half-open [from, to) in milliseconds. */
export interface TimeWindow {
  from: number
  to: number
}

/** One validator's move between two windows. */
export interface TrendEntry {
  validator: string
  before: { count: number, mean: number }
  after: { count: number, mean: number }
  /** after.mean - before.mean */
  delta: number
}

/** Retention per field, in milliseconds. */
export interface RetentionPolicy {
  scoresMs: number
  commitmentsMs: number
  payloadMs: number
}

/** What a sweep removed. */
export interface SweepResult {
  /** Records deleted (scores expired). */
  records: number
  /** Commitments stripped from records that stay. */
  commitments: number
  /** Payloads released and deleted. */
  payloads: number
  /** Rollup buckets rebuilt because an extreme (min or max) left them. */
  rebuilt: number
  ms: number
}

/** An attestation in an export: the record, its payload opened while the key exists. */
export interface ExportedAttestation extends AttestationRecord {
  payloadPlaintext?: PrivatePayload
  /** Why the payload could not be opened (ErasedError, DataKeyUnavailableError...). */
  payloadError?: string
}

/** Everything this node holds about one validator (the access right). */
export interface ValidatorExport {
  validator: string
  exportedAt: number
  erasure?: ErasureRecord
  /** Whether this node holds a data key for the validator. */
  dataKeyHeld: boolean
  attestations: ExportedAttestation[]
  aggregates: Record<'minute' | 'hour' | 'day', BucketAggregate[]>
}

/** Called after a local `ingest` wrote its batch: a replicator publishes it. */
export type IngestListener = (batch: AttestationBatch) => void
/** Called after a local `erase`: a replicator publishes the record. */
export type ErasureListener = (record: ErasureRecord) => void

/** What the attestation store needs of the keystore: one data key per slot, written in the store's own batches (`Keystore` fits). */
export interface SlotKeys {
  /** True when the slot has a data key on this node. */
  hasKey: (slot: string) => boolean
  /** Seals bytes under a slot's key, adding a new key to `batch` when the slot has none. */
  sealInBatch: (batch: WriteBatch, slot: string, plaintext: Uint8Array, aad: Uint8Array) => Uint8Array
  /** Opens a blob sealed under a slot. */
  openSealed: (slot: string, sealed: Uint8Array, aad: Uint8Array) => Uint8Array
  /** Drops a slot from the memory cache (after a batch that created its key failed). */
  forget: (slot: string) => void
  /** Deletes a slot's key in a batch; `compact(slot)` once it is written. */
  destroyInBatch: (batch: WriteBatch, slot: string) => boolean
  /** Compacts a slot's key range so the deleted key leaves LevelDB's files. */
  compact: (slot: string) => Promise<void>
}

/** What opening an attestation store needs. */
export interface AttestationStoreInit {
  db: RootDb
  blocks: BlocksDb
  keystore: SlotKeys
  logger: Logger
  /** fsync each batch (the store's `durability` is `power`). */
  sync: boolean
  retention: RetentionPolicy
  /** Defaults to DEFAULT_MAX_CLOCK_SKEW_MS. */
  maxClockSkewMs?: number
  /** The clock (milliseconds since the epoch); tests pass their own. */
  now?: () => number
}
