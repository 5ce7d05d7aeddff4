import type { EventEmitter } from 'node:events'
import type { Helia } from 'helia'
import type { Blockstore } from 'interface-blockstore'
import type { CID } from 'multiformats/cid'
import type { AttestationStore, Keystore } from '../attestations/index.ts'
import type { BlockRef } from '../chain/reader.ts'
import type { ImportResult, ReorgEvent, StoreOptions } from '../chain/types.ts'
import type { StoredTransaction } from '../chain/stored-transaction.ts'
import { parseCid } from '../codec/cid.ts'
import type { EncodedBlock, IpldBlock } from '../codec/encode.ts'
import { InvalidBlockError } from '../codec/errors.ts'
import { encodeBlock } from '../codec/encode.ts'
import type { Block, BlockHeader, BlockInput, ReceiptRecord, StoredBlock } from '../codec/types.ts'
import type { ChainStoreConfig } from '../config/index.ts'
import type { AddFileOptions, CatOptions, PutBytesOptions } from '../files/types.ts'
import type { HistoryOptions, HistoryPage, LogQuery, LogRecord } from '../indexes/types.ts'
import type { Logger } from '../logger.ts'
import type { StoreMetrics, TimedOperation } from '../metrics/index.ts'
import type { GcOptions } from '../pinning/collector.ts'
import type { GcSummary } from '../pinning/gc.ts'
import type { HoldReason, PinRecord, PinState } from '../pinning/records.ts'
import type { RemotePinStatus } from '../pinning/remote.ts'
import type { AuditLog } from '../audit/log.ts'
import { NetworkDisabledError } from '../replication/errors.ts'
import type { Replicator } from '../replication/replicator.ts'
import type { SnapshotInfo, SnapshotManifest, SnapshotProgress, StateStore } from '../state/index.ts'
import type { KvStore } from '../storage/kv.ts'
import type { BlockSource } from '../storage/types.ts'
import { onWriteFailure, openLevel, type MaintenanceAccess } from '../storage/level.ts'
import { recordLogDamage } from '../storage/damage.ts'
import { composeRooms, kvOf, maintenanceOf, type HostParts, type Rooms, type StoreEventMap } from './compose.ts'
import { addLifecycle } from './start.ts'
import { StatusReader } from './status.ts'
import type { GetBytesOptions, Head, Health, StoreStatus } from './types.ts'
import { slicer } from '../scheduling.ts'

export type { BlockRef } from '../chain/reader.ts'
export type { StoreOptions } from '../chain/types.ts'
export type { MaintenanceAccess } from '../storage/level.ts'

const CONSISTENCIES = ['one', 'quorum', 'all']

/**
 * The store: the public facade over the rooms (chain, indexes, pinning,
 * files, storage, replication) that `composeRooms` builds. It checks that the
 * store is open, times the public operations into the metrics, and delegates.
 */
export class ChainStore {
  readonly config: ChainStoreConfig
  /** `block`, `head`, `reorg` and `gc` events (names in STORE_EVENTS, payloads in StoreEventMap). */
  readonly events: EventEmitter<StoreEventMap>
  /** Prometheus registry, recent latencies, dashboard rate samples and alerts. */
  readonly metrics: StoreMetrics
  readonly #r: Rooms
  readonly #status: StatusReader
  /** The last `storeBlocks` call's turn at the writer: calls encode concurrently but reach the writer in call order. */
  #writeOrder: Promise<void> = Promise.resolve()

  private constructor (rooms: Rooms) {
    this.#r = rooms
    this.config = rooms.config
    this.events = rooms.events
    this.metrics = rooms.metrics
    this.#status = new StatusReader(rooms)
  }

  /** Opens the data dir, builds the rooms and starts them. Use `createChainStore`. */
  static async open (config: ChainStoreConfig, logger: Logger, host: HostParts = {}): Promise<ChainStore> {
    const { db, blocks, logDamage, tables } = await openLevel(config.dataDir, config.level)
    try {
      if (tables.checked > 0) logger.debug({ tables: tables.tables, checked: tables.checked, bytes: tables.bytes, ms: Math.round(tables.ms) }, 'table files checked')
      if (logDamage != null) await recordLogDamage(db, logDamage)
      onWriteFailure(db, err => { logger.error({ err: err.message }, 'a LevelDB write failed: every later write is refused until the data dir is reopened (nothing acknowledged is lost; a restart recovers)') })
      const rooms = await composeRooms(config, logger, db, blocks, host)
      const store = new ChainStore(rooms)
      addLifecycle(rooms, logger, async () => await store.status())
      try {
        await rooms.lifecycle.start()
        rooms.log.info({ dataDir: config.dataDir, head: rooms.meta.head()?.height ?? null }, 'store opened')
      } catch (err) {
        await store.stop()
        throw err
      }
      return store
    } catch (err) {
      await db.close()
      throw err
    }
  }

  /**
   * A Helia over this store's blockstore: with the network on, the node's
   * (libp2p, bitswap); with it off, a light one built on first access (its
   * package loads ~1.2 s of network modules a local store does not need).
   */
  get helia (): Helia { return this.#open().helia.get() }
  /** The store's blocks as a Blockstore (js-stores contract: a missing block is NotFoundError); local only, no Helia needed. */
  get blockstore (): Blockstore { return this.#open().blockstore }
  /** Account and validator state: a Merkle Patricia Trie of IPLD blocks, roots pinned by the policy's `state` rules. */
  get state (): StateStore { return this.#r.stateStore! }
  /** Validator attestations (config `attestations.enabled`): null when off. */
  get attestations (): AttestationStore | null { return this.#r.attestations?.attestations ?? null }
  /** The master-key keystore that seals attestation payloads (null when attestations are off). */
  get keystore (): Keystore | null { return this.#r.attestations?.keystore ?? null }
  /** Bytes by CID through every tier (local, fetch cache, peers, gateways), verified, filled upward: what `getBytes` reads. */
  get blocks (): BlockSource { return this.#r.tiered }
  /** Replication over libp2p + OrbitDB, when `network.enabled`. */
  get replication (): Replicator | null { return this.#r.replication }

  /** The rooms of an open store (StoreClosedError once stopped). */
  #open (): Rooms {
    this.#r.assertOpen()
    return this.#r
  }

  /** Runs a public operation on an open store, timed into the metrics under its name. */
  async #timed<T> (op: TimedOperation, fn: () => Promise<T> | T): Promise<T> {
    const started = performance.now()
    try {
      this.#r.assertOpen()
      return await fn()
    } finally {
      this.metrics.observe(op, performance.now() - started)
    }
  }

  /**
   * {@link #timed} for a local read, which is synchronous: one promise
   * instead of three (async wrapper, await, caller's await), and no closure
   * per call (the readers below are made once), so a cached read through the
   * async API allocates little more than the sync one.
   */
  #timedRead<A, T> (op: TimedOperation, read: (arg: A) => T, arg: A): Promise<T> {
    const started = performance.now()
    let out: Promise<T>
    try {
      this.#r.assertOpen()
      out = Promise.resolve(read(arg))
    } catch (err) {
      out = Promise.reject(err)
    }
    this.metrics.observe(op, performance.now() - started)
    return out
  }

  readonly #readHeader = (ref: BlockRef): BlockHeader & { cid: CID } => this.#r.reader.header(ref)
  readonly #readBlock = (ref: BlockRef): Block => this.#r.reader.block(ref)
  readonly #readTransaction = (txId: string | CID): StoredTransaction => this.#r.reader.transaction(txId)
  readonly #readReceipt = (txId: string | CID): ReceiptRecord => this.#r.reader.receipt(txId)

  /** Stores one block; see {@link storeBlocks}. */
  async storeBlock (block: BlockInput, options: StoreOptions = {}): Promise<StoredBlock> {
    return (await this.storeBlocks([block], options))[0]
  }

  /**
   * Validates and encodes blocks, then writes their bytes, index entries, pins
   * and the new head in one LevelDB batch (nothing when any block is invalid;
   * stored ones are skipped). With replication on, then announces them
   * (see {@link StoreOptions} for waiting on replicas).
   */
  async storeBlocks (blocks: BlockInput[], options: StoreOptions = {}): Promise<StoredBlock[]> {
    return await this.#timed('storeBlocks', async () => {
      if (!Array.isArray(blocks)) throw new InvalidBlockError('blocks: expected an array of blocks')
      const consistency = options.consistency ?? 'one'
      if (!CONSISTENCIES.includes(consistency)) throw new InvalidBlockError(`consistency: expected one, quorum or all, got ${String(consistency)}`)
      if (consistency !== 'one' && this.#r.replication == null) throw new NetworkDisabledError(`consistency '${consistency}' needs replication (config network.enabled)`)
      // encoded in slices, so requests and timers run between blocks of a large batch;
      // calls still reach the writer in call order (a later call may finish encoding first)
      const turn = this.#writeOrder
      let ourTurnDone!: () => void
      this.#writeOrder = new Promise<void>(resolve => { ourTurnDone = resolve })
      let encoded: EncodedBlock[]
      try {
        encoded = []
        const slice = slicer()
        for (const b of blocks) {
          encoded.push(encodeBlock(b, this.config.limits))
          await slice.maybeYield()
        }
      } catch (err) {
        await turn
        ourTurnDone()
        throw err
      }
      await turn
      // the writer queues the call on its lock synchronously: order is kept from here on
      const stored = this.#r.writer.store(encoded, options)
      ourTurnDone()
      return await stored
    })
  }

  /** Stores blocks received from peers (rebuilt and verified): side branches wait for {@link setCanonical}. */
  async importBlocks (blocks: EncodedBlock[]): Promise<ImportResult[]> {
    return await this.#timed('importBlocks', async () => await this.#r.writer.importBlocks(blocks))
  }

  /** Makes `tip` the canonical head, re-indexing past the fork point in one batch; emits `reorg` and `head`. */
  async setCanonical (tip: CID | string): Promise<ReorgEvent | null> {
    return await this.#timed('setCanonical', async () => await this.#r.writer.setCanonical(parseCid(tip, 'tip')))
  }

  /** Marks the canonical chain final up to `height` (capped at the head); pins follow the policy's finality rules. */
  async setFinalized (height: number): Promise<void> {
    this.#r.assertOpen()
    await this.#r.writer.setFinalized(height)
  }

  /** Highest finalized height on the canonical chain (-1: none). */
  finalizedHeight (): number { return this.#r.meta.finalized() }

  /** The latest stored block, or null for an empty store. */
  head (): Head | null { return this.#open().meta.head() }

  /** True when the block's header is stored here (canonical or side branch). */
  hasBlock (cid: CID | string): boolean { return this.#open().reader.blockHeight(parseCid(cid, 'block')) != null }

  /** The header CID at a canonical height, or undefined. */
  canonicalAt (height: number): CID | undefined { return this.#open().reader.canonicalAt(height) }

  /** The IPLD blocks of a stored block's DAG: header first, then its pages. */
  blockDag (cid: CID | string): IpldBlock[] { return this.#open().reader.dag(parseCid(cid, 'block')) }

  /** Bytes of any IPLD block stored here (chain or not), or undefined; never touches the network. */
  localBytes (cid: CID | string): Uint8Array | undefined { return this.#open().localBytes(parseCid(cid)) }

  /** Writes IPLD blocks in one batch without pin records (a cache fill); the caller hashed each against its CID. */
  async putVerifiedBlocks (blocks: Array<{ cid: CID, bytes: Uint8Array }>): Promise<void> {
    await this.#r.putVerified(blocks)
  }

  /** The decoded header of a block. */
  getHeader (ref: BlockRef): Promise<BlockHeader & { cid: CID }> {
    return this.#timedRead('getHeader', this.#readHeader, ref)
  }

  /** Synchronous {@link getHeader}: local reads never wait on I/O threads. */
  getHeaderSync (ref: BlockRef): BlockHeader & { cid: CID } { return this.#open().reader.header(ref) }

  /** A whole block: header, transactions and their ids. */
  getBlock (ref: BlockRef): Promise<Block> {
    return this.#timedRead('getBlock', this.#readBlock, ref)
  }

  /** Synchronous {@link getBlock}. */
  getBlockSync (ref: BlockRef): Block { return this.#open().reader.block(ref) }

  /** Blocks from `fromHeight` to `toHeight` inclusive, in order, one at a time, past the memory tier. */
  async * getBlocks (fromHeight: number, toHeight: number, options: {
    signal?: AbortSignal } = {}): AsyncGenerator<Block> { yield * this.#open().reader.blocks(fromHeight, toHeight, options)
  }

  /** A transaction with its block, page and position. */
  getTransaction (txId: string | CID): Promise<StoredTransaction> {
    return this.#timedRead('getTransaction', this.#readTransaction, txId)
  }

  /** Synchronous {@link getTransaction}. */
  getTransactionSync (txId: string | CID): StoredTransaction { return this.#open().reader.transaction(txId) }

  /** The receipt of a transaction, read from its block's receipt page. */
  getReceipt (txId: string | CID): Promise<ReceiptRecord> {
    return this.#timedRead('getReceipt', this.#readReceipt, txId)
  }

  /** One page of the transactions that an address sent or received, oldest first unless `reverse`. */
  async getAddressHistory (address: string, options: HistoryOptions = {}): Promise<HistoryPage> {
    return await this.#timed('getAddressHistory', async () => await this.#r.reader.addressHistory(address, options))
  }

  /** Logs matching an address and/or topics over a height range, from the log indexes. */
  async getLogs (query: LogQuery = {}): Promise<LogRecord[]> {
    return await this.#timed('getLogs', async () => await this.#r.reader.logs(query))
  }

  /** The raw parts maintenance modules (backup, integrity, migrations) work on; see {@link MaintenanceAccess}. */
  maintenance (): MaintenanceAccess {
    this.#r.assertOpen()
    return maintenanceOf(this.#r)
  }

  /** A namespaced key-value store over the same LevelDB (JSON values; sealed when `attestations.encryptKinds` names it). */
  kv<V = unknown> (namespace: string): KvStore<V> {
    this.#r.assertOpen()
    return kvOf<V>(this.#r, namespace)
  }

  /** Stores raw bytes (or dag-cbor) as an IPLD block, pinned unless `pin: false`, and returns its CID. */
  async putBytes (bytes: Uint8Array, options: PutBytesOptions = {}): Promise<CID> {
    return await this.#timed('putBytes', async () => await this.#r.files.putBytes(bytes, options))
  }

  /**
   * Bytes of a block by CID through {@link blocks}: this store, connected
   * peers (within `timeoutMs`), trustless gateways; every tier's bytes are
   * hashed against the CID, remote ones kept in the fetch cache.
   */
  async getBytes (cid: string | CID, options: GetBytesOptions = {}): Promise<Uint8Array> {
    return await this.#timed('getBytes', async () => await this.#r.tiered.get(parseCid(cid), options))
  }

  /** Adds a payload of any size as a UnixFS DAG (standard IPFS file) and pins its root. */
  async addFile (content: Uint8Array | AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options: AddFileOptions = {}): Promise<CID> {
    return await this.#timed('addFile', async () => await this.#r.files.addFile(content, options))
  }

  /** Streams a UnixFS file's bytes. */
  async * cat (cid: string | CID, options: CatOptions = {}): AsyncGenerator<Uint8Array> { yield * this.#open().files.cat(parseCid(cid), options) }

  /** Deletes every block no pin, fetch-cache entry or replicated log holds (writes wait); GcUnsafeError when logs exist but replication is off. */
  async gc (options: GcOptions = {}): Promise<GcSummary> {
    return await this.#timed('gc', async () => await this.#r.collector.gc(options))
  }

  /** LevelDB's estimate of the bytes the blockstore takes on disk. */
  async blockstoreBytes (): Promise<number> { return await this.#open().collector.blockstoreBytes() }

  /** Pins a root for the user (recursive by default): queued → pinning → pinned or failed; with `wait` (default) resolves pinned or throws PinFailedError. */
  async pin (cid: CID | string, options: { recursive?: boolean, wait?: boolean, signal?: AbortSignal, reason?: HoldReason } = {}): Promise<PinRecord> {
    return await this.#timed('pin', async () => await this.#r.pins.pin(parseCid(cid), options))
  }

  /** Drops the user's hold (or with `reason: 'remote'`, the Pinning Service API's) on a root, cancelling its pin job when no other such hold is left; returns whether it was held so. */
  async unpin (cid: CID | string, options: { reason?: HoldReason } = {}): Promise<boolean> {
    return await this.#timed('unpin', async () => await this.#r.pins.unpin(parseCid(cid), options))
  }

  /** Where each root pinned here stands at each remote pinning service (config remotePinning); empty without services. `refresh` asks the services first. */
  async remotePins (options: { refresh?: boolean } = {}): Promise<RemotePinStatus[]> {
    const remote = this.#open().remotePins
    if (remote == null) return []
    if (options.refresh === true) await remote.sync()
    return await remote.list()
  }

  /** The audit trail: signed, hash-chained events of storage operations (null with config audit.enabled false). */
  get audit (): AuditLog | null { return this.#r.audit }

  /** The pin record of a root, or undefined when nothing holds it. */
  pinRecord (cid: CID | string): PinRecord | undefined {
    return this.#open().pins.readPin(parseCid(cid))
  }

  /** Pin records; with `state`, only those in it. */
  async * pins (options: { state?: PinState, signal?: AbortSignal } = {}): AsyncGenerator<PinRecord> { yield * this.#open().pins.pins(options) }

  /** Counts of holds not yet pinned, by state. */
  pinStates (): Record<Exclude<PinState, 'pinned'>, number> { return this.#r.pins.states() }

  /** Writes a CARv1 snapshot of the state root at `height` (every trie node under it, with a manifest). */
  async exportStateSnapshot (height: number, file: string, options: { onProgress?: SnapshotProgress, signal?: AbortSignal } = {}): Promise<SnapshotInfo> {
    this.#r.assertOpen()
    // snapshots (CAR writing and reading) load with the first one
    const { exportSnapshot } = await import('../state/snapshot.ts')
    return await exportSnapshot(this.state, height, file, options)
  }

  /** Imports a state snapshot (every node re-hashed, the DAG checked complete) and adopts its root, pinned; GC waits meanwhile. */
  async importStateSnapshot (file: string, options: { onProgress?: SnapshotProgress, signal?: AbortSignal } = {}): Promise<SnapshotManifest> {
    const { importSnapshot } = await import('../state/snapshot.ts')
    return await this.#open().lock.import(async () => await importSnapshot(file, this.state, options))
  }

  /** Liveness and readiness for `/healthz` and `/readyz` (no I/O; answers after stop too). */
  health (maxLag: number = this.config.api.readyMaxLag): Health {
    return this.#status.health(this.#r.guard.open, maxLag)
  }

  /** Head, cache, pin and disk figures, and the network's when replication runs. */
  async status (): Promise<StoreStatus> {
    this.#r.assertOpen()
    return await this.#status.status()
  }

  /** Waits for writes in flight, stops every room in reverse start order and closes LevelDB. Safe to call twice. */
  async stop (): Promise<void> {
    const r = this.#r
    if (!r.guard.open || r.stopping.value) return
    r.stopping.value = true
    await r.lifecycle.stop()
    this.#r.log.info('store stopped')
  }
}
