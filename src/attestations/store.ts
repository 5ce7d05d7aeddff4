import { CID } from 'multiformats/cid'
import { RAW, cidOf } from '../codec/cid.ts'
import type { Logger } from '../logger.ts'
import { holdInBatch, readPin } from '../pinning/records.ts'
import { PREFIX, prefixRange, readU64 } from '../storage/keys.ts'
import { startBatch, type BlocksDb, type RootDb, type StoreBatch } from '../storage/level.ts'
import type { AbortOptions } from '../storage/types.ts'
import { encodeRecord, type RecordValue } from './codec.ts'
import { DEFAULT_MAX_CLOCK_SKEW_MS } from './constants.ts'
import {
  AttestationConflictError, AttestationNotFoundError, AttestationsClosedError, ErasedError,
  ForeignAttestationError, InvalidReplicationRecordError
} from './errors.ts'
import { erasureKey, heightKey, parseRecordKey, recordKey, recordPrefix, timeKey, validatorOfKey } from './keys.ts'
import { checkBatchSize, checkRetention, checkValidatorId, validateAttestation, validateWire, type ValidAttestation } from './model.ts'
import * as queries from './queries.ts'
import { RollupChanges } from './rollups.ts'
import { openPayload, payloadAad, validatorSlot, type PayloadContext } from './payloads.ts'
import { countDelta, purgeValidator, removeOlderThan, stripField, u64, type RemovalContext } from './removal.ts'
import { OpenGuard } from '../storage/guard.ts'
import type {
  AggregateQuery, AttestationBatch, AttestationInput, AttestationRecord, AttestationStoreInit, BucketAggregate, ErasureListener,
  ErasureRecord, ErasureResult, ExportedAttestation, IngestListener, IngestResult, PrivatePayload, RangeQuery, RetentionPolicy,
  SlotKeys, SweepResult, TimeWindow, TrendEntry, ValidatorExport, WireAttestation
} from './types.ts'

const EMPTY = new Uint8Array(0)

function sameScores (a: { score: number, scores?: Record<string, number> }, b: ValidAttestation): boolean {
  return a.score === b.score && JSON.stringify(a.scores ?? null) === JSON.stringify(b.scores ?? null)
}

/**
 * Validator attestations: a time series per validator with pre-aggregated
 * rollups, private payloads sealed under per-validator data keys, retention
 * per field and erasure by crypto-shredding. Writes run one at a time (the
 * rollups are read-modify-write), each as one LevelDB batch; reads never wait.
 */
export class AttestationStore {
  readonly #db: RootDb
  readonly #blocks: BlocksDb
  readonly #keystore: SlotKeys
  readonly #log: Logger
  readonly #sync: boolean
  readonly #skew: number
  readonly #now: () => number
  #retention: RetentionPolicy
  readonly #erased = new Map<string, number>()
  readonly #ingestListeners = new Set<IngestListener>()
  readonly #erasureListeners = new Set<ErasureListener>()
  readonly #removal: RemovalContext
  readonly #payloads: PayloadContext
  readonly #guard = new OpenGuard(() => new AttestationsClosedError('the attestation store is closed'))

  private constructor (init: AttestationStoreInit) {
    this.#db = init.db
    this.#blocks = init.blocks
    this.#keystore = init.keystore
    this.#log = init.logger.child({ room: 'attestations' })
    this.#sync = init.sync
    this.#skew = init.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS
    this.#now = init.now ?? Date.now
    this.#retention = checkRetention(init.retention)
    this.#removal = { db: init.db, sync: init.sync, batch: () => this.#batch() }
    this.#payloads = { blocks: init.blocks, keystore: init.keystore, erased: v => this.#erased.has(v) }
  }

  /** Opens the attestations kept in a node's LevelDB; finishes any erasure a crash interrupted. */
  static async open (init: AttestationStoreInit, options: AbortOptions = {}): Promise<AttestationStore> {
    const store = new AttestationStore(init)
    for await (const [key, value] of init.db.iterator(prefixRange(Uint8Array.of(PREFIX.ATTEST_ERASED)))) {
      store.#erased.set(validatorOfKey(key), readU64(value, 0))
    }
    for (const [validator, erasedAt] of store.#erased) {
      options.signal?.throwIfAborted()
      const left = await purgeValidator(store.#removal, validator, erasedAt, options)
      if (left.records > 0) store.#log.info({ records: left.records, payloads: left.payloads }, 'finished an interrupted erasure')
    }
    return store
  }

  /** The retention in force. */
  get retention (): RetentionPolicy {
    return { ...this.#retention }
  }

  /** Changes the retention; the next sweep applies it. */
  setRetention (retention: RetentionPolicy): void {
    this.#retention = checkRetention(retention)
  }

  /** Waits for running writes, then refuses new calls. The LevelDB handle belongs to the caller. */
  async close (): Promise<void> {
    if (!this.#guard.open) return
    await this.#guard.close()
    this.#ingestListeners.clear()
    this.#erasureListeners.clear()
  }

  /** Calls `listener` after each local `ingest` with what it wrote (for a replicator to publish). Returns an unsubscribe. */
  onIngest (listener: IngestListener): () => void {
    this.#ingestListeners.add(listener)
    return () => { this.#ingestListeners.delete(listener) }
  }

  /** Calls `listener` after each local `erase` with the erasure record (for a replicator to publish). Returns an unsubscribe. */
  onErasure (listener: ErasureListener): () => void {
    this.#erasureListeners.add(listener)
    return () => { this.#erasureListeners.delete(listener) }
  }

  /**
   * Validates and stores attestations in one LevelDB batch: records,
   * indexes, rollups, sealed payloads as raw blocks with their pins. One
   * invalid attestation refuses the whole call; an attestation already stored
   * with the same content is skipped, one with different content is an
   * AttestationConflictError.
   */
  async ingest (attestations: AttestationInput[], options: AbortOptions = {}): Promise<IngestResult> {
    checkBatchSize(attestations, 'attestations')
    const now = this.#now()
    const valid = attestations.map((a, i) => validateAttestation(a, now, this.#skew, `attestations[${i}]`))
    return await this.#serial(options, async () => await this.#write(valid, true))
  }

  /**
   * Applies a batch replicated from a peer and signed by `signerId`: a
   * validator writes only its own attestations, so any attestation of
   * another validator refuses the whole batch (ForeignAttestationError).
   */
  async applyRemote (batch: AttestationBatch, signerId: string, options: AbortOptions = {}): Promise<IngestResult> {
    checkValidatorId(signerId, 'signerId')
    if (batch == null || !Array.isArray(batch.attestations)) throw new InvalidReplicationRecordError('batch: expected { attestations: [...] }')
    checkBatchSize(batch.attestations, 'batch.attestations')
    const now = this.#now()
    const valid = batch.attestations.map((a, i) => {
      const v = validateWire(a, now, this.#skew, `batch.attestations[${i}]`)
      if (v.validator !== signerId) throw new ForeignAttestationError(`batch.attestations[${i}]: attestation of validator ${v.validator} in a batch signed by ${signerId}`)
      return v
    })
    return await this.#serial(options, async () => await this.#write(valid, false))
  }

  /** A validator's attestation at a height. */
  async get (validator: string, height: number): Promise<AttestationRecord> {
    this.#open()
    checkValidatorId(validator)
    const r = queries.readRecord(this.#db, validator, height)
    if (r != null) return r
    if (this.#erased.has(validator)) throw new ErasedError(`validator ${validator} was erased; no attestation at height ${height}`)
    throw new AttestationNotFoundError(`no attestation of validator ${validator} at height ${height}`)
  }

  /** One validator's records over a time or height range, at most `limit` (default 1000). */
  async range (validator: string, query: RangeQuery = {}): Promise<AttestationRecord[]> {
    this.#open()
    return await queries.range(this.#db, validator, query)
  }

  /** One validator's records over a time or height range, streamed without limit. */
  series (validator: string, query: RangeQuery = {}): AsyncGenerator<AttestationRecord> {
    this.#open()
    return queries.series(this.#db, validator, query)
  }

  /** Aggregates (count, mean, min, max, p50, p90) per bucket, from the rollups. */
  async aggregate (query: AggregateQuery): Promise<BucketAggregate[]> {
    this.#open()
    return await queries.aggregate(this.#db, query)
  }

  /** One aggregate over a whole range of buckets. */
  async summary (query: AggregateQuery): Promise<BucketAggregate | undefined> {
    this.#open()
    return await queries.summary(this.#db, query)
  }

  /** Validators whose mean score moved most between two windows. */
  async trending (query: { before: TimeWindow, after: TimeWindow, limit?: number, minCount?: number, signal?: AbortSignal }): Promise<TrendEntry[]> {
    this.#open()
    return await queries.trending(this.#db, query)
  }

  /** Validators with attestations stored here, and how many each. */
  validators (): AsyncGenerator<{ validator: string, count: number }> {
    this.#open()
    return queries.validators(this.#db)
  }

  /** The erasure record of a validator, if it was erased. */
  erasure (validator: string): ErasureRecord | undefined {
    const at = this.#erased.get(validator)
    return at == null ? undefined : { validator, erasedAt: at }
  }

  /**
   * Opens an attestation's private payload. ErasedError after an erasure,
   * PayloadNotFoundError when it had none or retention swept it,
   * DataKeyUnavailableError when another node sealed it,
   * TamperedCiphertextError when its bytes were altered.
   */
  async getPayload (validator: string, height: number): Promise<PrivatePayload> {
    const record = await this.get(validator, height)
    return await openPayload(this.#payloads, record)
  }

  /**
   * Erases a validator on this node by crypto-shredding: in one batch the
   * data key is destroyed and the erasure record written, then every record
   * of the validator is deleted (rollups adjusted, payload pins released and
   * blocks deleted) and the key range compacted so the wrapped key leaves
   * LevelDB's files. Listeners of `onErasure` get the record.
   */
  async erase (validator: string, options: AbortOptions = {}): Promise<ErasureResult> {
    checkValidatorId(validator)
    const result = await this.#serial(options, async () => await this.#erase({ validator, erasedAt: Math.max(this.#now(), await this.#latest(validator)) }, options))
    for (const l of this.#erasureListeners) this.#safely(() => { l({ validator, erasedAt: result.erasedAt }) })
    return result
  }

  /** Applies an erasure record replicated from a peer (idempotent; a later erasure supersedes an earlier one). */
  async applyErasure (record: ErasureRecord, options: AbortOptions = {}): Promise<ErasureResult> {
    if (record == null || typeof record !== 'object') throw new InvalidReplicationRecordError('erasure record: expected { validator, erasedAt }')
    const extra = Object.keys(record).filter(k => k !== 'validator' && k !== 'erasedAt')
    if (extra.length > 0) throw new InvalidReplicationRecordError(`erasure record: unknown field ${extra[0]} (an erasure carries the validator and the time only)`)
    checkValidatorId(record.validator, 'erasure.validator')
    if (!Number.isSafeInteger(record.erasedAt) || record.erasedAt < 0) throw new InvalidReplicationRecordError('erasure.erasedAt: expected milliseconds since the epoch')
    return await this.#serial(options, async () => await this.#erase({ validator: record.validator, erasedAt: record.erasedAt }, options))
  }

  /**
   * Applies the retention policy at `now` (the injected clock by default):
   * records past the score retention are deleted with their rollup share,
   * commitments and payloads past theirs are stripped (payload pins released,
   * blocks deleted). Logs counts only.
   */
  async sweep (now?: number, options: AbortOptions = {}): Promise<SweepResult> {
    return await this.#serial(options, async () => {
      const started = performance.now()
      const at = now ?? this.#now()
      const cut = this.#cutoffs(at)
      const result: SweepResult = { records: 0, commitments: 0, payloads: 0, rebuilt: 0, ms: 0 }
      // scores: whole records go, oldest first
      Object.assign(result, await removeOlderThan(this.#removal, cut.scores, options))
      // commitments and payloads: strip them from records that stay
      result.commitments = await stripField(this.#removal, 'commitments', cut.commitments, options)
      result.payloads += await stripField(this.#removal, 'payload', cut.payload, options)
      result.ms = performance.now() - started
      this.#log.info({ records: result.records, commitments: result.commitments, payloads: result.payloads, rebuilt: result.rebuilt, ms: Math.round(result.ms) }, 'attestation retention sweep')
      return result
    })
  }

  /** Everything this node holds about a validator: records, payloads opened while the key exists, rollups, erasure. */
  async exportValidator (validator: string, options: AbortOptions = {}): Promise<ValidatorExport> {
    this.#open()
    checkValidatorId(validator)
    const attestations: ExportedAttestation[] = []
    for await (const r of queries.series(this.#db, validator, { signal: options.signal })) {
      const e: ExportedAttestation = { ...r }
      if (r.payload != null) {
        try { e.payloadPlaintext = await openPayload(this.#payloads, r) } catch (err) { e.payloadError = (err as Error).name }
      }
      attestations.push(e)
    }
    const erasure = this.erasure(validator)
    return {
      validator,
      exportedAt: this.#now(),
      ...(erasure != null ? { erasure } : {}),
      dataKeyHeld: this.#keystore.hasKey(validatorSlot(validator)),
      attestations,
      aggregates: {
        minute: await queries.allBuckets(this.#db, validator, 'minute'),
        hour: await queries.allBuckets(this.#db, validator, 'hour'),
        day: await queries.allBuckets(this.#db, validator, 'day')
      }
    }
  }

  async #write (items: ValidAttestation[], local: boolean): Promise<IngestResult> {
    const result: IngestResult = { stored: 0, duplicates: 0, erased: 0, expired: 0 }
    const cut = this.#cutoffs(this.#now())
    const batch = this.#batch()
    const rollups = new RollupChanges()
    const counts = new Map<string, number>()
    const inBatch = new Map<string, ValidAttestation>()
    const created = new Set<string>()
    const wire: WireAttestation[] = []
    const readPinRecord = (cid: CID): ReturnType<typeof readPin> => readPin(this.#db, cid)
    for (const a of items) {
      const erasedAt = this.#erased.get(a.validator)
      if (erasedAt != null && a.timestamp <= erasedAt) { result.erased++; continue }
      if (a.timestamp < cut.scores) { result.expired++; continue }
      const id = `${a.validator}\0${a.height}`
      const same = inBatch.get(id)
      if (same != null) {
        if (same.timestamp !== a.timestamp || !sameScores(same, a)) throw new AttestationConflictError(`validator ${a.validator} has two different attestations for height ${a.height} in one batch`)
        result.duplicates++
        continue
      }
      const stored = queries.readRecord(this.#db, a.validator, a.height)
      if (stored != null) {
        if (stored.timestamp !== a.timestamp || !sameScores(stored, a)) throw new AttestationConflictError(`validator ${a.validator} already has a different attestation at height ${a.height}`)
        result.duplicates++
        continue
      }
      inBatch.set(id, a)
      let payload: CID | undefined
      let sealed: Uint8Array | undefined
      if (a.timestamp >= cut.payload) {
        if (a.payload != null) {
          const slot = validatorSlot(a.validator)
          if (!this.#keystore.hasKey(slot)) created.add(slot)
          sealed = this.#keystore.sealInBatch(batch, slot, a.payload, payloadAad(a.validator, a.height))
        } else sealed = a.sealedPayload
        if (sealed != null) {
          payload = cidOf(sealed, RAW)
          batch.putBlock(payload, sealed)
          holdInBatch(batch, readPinRecord, payload, 'attestation', false)
        }
      }
      const commitment = a.timestamp >= cut.commitments ? a.commitment : undefined
      const value: RecordValue = { score: a.score, ...(a.scores != null ? { scores: a.scores } : {}), ...(commitment != null ? { commitment } : {}), ...(payload != null ? { payload } : {}) }
      batch.put(recordKey(a.validator, a.timestamp, a.height), encodeRecord(value))
      batch.put(heightKey(a.validator, a.height), u64(a.timestamp))
      batch.put(timeKey(a.timestamp, a.validator, a.height), EMPTY)
      rollups.add(a.validator, a.height, a.timestamp, a.score)
      counts.set(a.validator, (counts.get(a.validator) ?? 0) + 1)
      result.stored++
      if (local) wire.push({ validator: a.validator, height: a.height, timestamp: a.timestamp, score: a.score, ...(a.scores != null ? { scores: a.scores } : {}), ...(commitment != null ? { commitment } : {}), ...(sealed != null ? { sealedPayload: sealed } : {}) })
    }
    if (result.stored === 0) return result
    rollups.applyAdd(this.#db, batch)
    countDelta(this.#removal, batch, counts)
    try {
      await batch.write(this.#sync)
    } catch (err) {
      for (const slot of created) this.#keystore.forget(slot)
      throw err
    }
    this.#log.debug({ stored: result.stored, duplicates: result.duplicates, local }, 'attestations ingested')
    if (local && wire.length > 0) for (const l of this.#ingestListeners) this.#safely(() => { l({ attestations: wire }) })
    return result
  }

  async #erase (record: ErasureRecord, options: AbortOptions): Promise<ErasureResult> {
    const { validator, erasedAt } = record
    const previous = this.#erased.get(validator)
    if (previous != null && previous >= erasedAt) return { validator, erasedAt: previous, records: 0, payloads: 0, keyDestroyed: false }
    // the key goes first, with the erasure record: once this batch is written nothing sealed for the validator opens
    const slot = validatorSlot(validator)
    const batch = this.#batch()
    const keyDestroyed = this.#keystore.destroyInBatch(batch, slot)
    batch.put(erasureKey(validator), u64(erasedAt))
    await batch.write(this.#sync)
    this.#erased.set(validator, erasedAt)
    await this.#keystore.compact(slot)
    const purged = await purgeValidator(this.#removal, validator, erasedAt, options)
    this.#log.info({ validator, records: purged.records, payloads: purged.payloads, keyDestroyed }, 'validator erased (data key destroyed)')
    return { validator, erasedAt, ...purged, keyDestroyed }
  }

  /** The latest timestamp stored for a validator (0 when none). */
  async #latest (validator: string): Promise<number> {
    let latest = 0
    for await (const key of this.#db.keys({ gte: recordPrefix(validator, 0), lt: recordPrefix(validator, Number.MAX_SAFE_INTEGER), reverse: true, limit: 1 })) latest = parseRecordKey(key).timestamp
    return latest
  }

  #cutoffs (now: number): { scores: number, commitments: number, payload: number } {
    const r = this.#retention
    // a commitment or payload lives in its record: it cannot outlive the score
    const scores = Math.max(0, now - r.scoresMs)
    return { scores, commitments: Math.max(scores, now - r.commitmentsMs), payload: Math.max(scores, now - r.payloadMs) }
  }

  #batch (): StoreBatch {
    return startBatch(this.#db, this.#blocks)
  }

  #safely (fn: () => void): void {
    try { fn() } catch (err) { this.#log.error({ err }, 'attestation listener failed') }
  }

  #open (): void {
    this.#guard.assertOpen()
  }

  async #serial<T> (options: AbortOptions, fn: () => Promise<T>): Promise<T> {
    return await this.#guard.serial(fn, options.signal)
  }
}
