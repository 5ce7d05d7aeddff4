import { EventEmitter } from 'node:events'
import { join } from 'node:path'
import type { CID } from 'multiformats/cid'
import type { AttestationsRoom } from '../attestations/index.ts'
import type { BackupScheduler } from '../backup/schedule.ts'
import { ChainMeta } from '../chain/meta.ts'
import { ChainReader } from '../chain/reader.ts'
import { RecentDags } from '../chain/recent-dags.ts'
import { blockBytesStage, indexStage } from '../chain/stages.ts'
import type { ChainEventMap, CommitListener } from '../chain/types.ts'
import { ChainWriter } from '../chain/writer.ts'
import { checkContinuity, describeContinuity } from '../chain/continuity.ts'
import { describeLogDamage, readLogDamage } from '../storage/damage.ts'
import { STORE_EVENTS } from '../chain/constants.ts'
import type { ChainStoreConfig } from '../config/index.ts'
import { Files } from '../files/service.ts'
import { GatewayClient, type GatewayScore } from '../gateway/client.ts'
import { gatewayBlockSource } from '../gateway/tier.ts'
import { BlockRecords, HeightIndex, TxRecords } from '../indexes/heights.ts'
import { PostingWindows } from '../indexes/windows.ts'
import type { Logger } from '../logger.ts'
import { StoreMetrics } from '../metrics/index.ts'
import { migrateOnOpen } from '../migrations/index.ts'
import { closePostings, loadPostings, type PostingsParts } from './postings.ts'
import { ChainPins } from '../pinning/chain-pin.ts'
import { Collector } from '../pinning/collector.ts'
import type { GcSummary } from '../pinning/gc.ts'
import { resolvePolicy, type PinPolicy } from '../pinning/policy.ts'
import { PinService } from '../pinning/service.ts'
import { StatePins } from '../pinning/state-pins.ts'
import { NETWORK_DIR } from '../replication/constants.ts'
import type { Replicator } from '../replication/replicator.ts'
import type { StateStore } from '../state/index.ts'
import { ObjectCache } from '../storage/cache.ts'
import { CorruptDataError } from '../codec/errors.ts'
import { InvalidQueryError, StoreClosedError } from '../storage/errors.ts'
import { FetchCache } from '../storage/fetch-cache.ts'
import { TieredBlocks } from '../storage/fetch-tier.ts'
import { ImportAwareBlockstore } from '../storage/import-aware.ts'
import { openKv, type KvStore } from '../storage/kv.ts'
import { sealedKv } from '../storage/sealed-kv.ts'
import { assertWritable, startBatch, type BlocksDb, type MaintenanceAccess, type RootDb, type StoreBatch } from '../storage/level.ts'
import { ImportDeleteLock } from '../storage/lock.ts'
import { RepairQueue } from '../storage/repair-queue.ts'
import { OpenGuard } from '../storage/guard.ts'
import { RemoteBlocks, levelSource, type LevelSource } from '../storage/sources.ts'
import { HeliaRoom } from './helia.ts'
import { RemotePins, type RemotePinStatus } from '../pinning/remote.ts'
import { AuditLog } from '../audit/log.ts'
import { loadNodeKey } from '../node-key.ts'
import { Lifecycle } from './lifecycle.ts'
import type { HostParts } from './types.ts'

/** kv namespace where remote pins' statuses persist. */
const REMOTE_PINS_NAMESPACE = 'remote-pins'

/** kv namespace where gateway scores persist. */
const GATEWAY_SCORES_NAMESPACE = 'gateway-scores'

/** Payloads of every event a store emits, by name. */
export interface StoreEventMap extends ChainEventMap {
  gc: [GcSummary]
}


/** The rooms of one store, built from the config's slices, and their lifecycle. */
export interface Rooms {
  config: ChainStoreConfig
  log: Logger
  db: RootDb
  blocks: BlocksDb
  sync: boolean
  /** Checks the canonical heights below the head (at open, after a repair); local writes are refused while some are missing. */
  checkChain: () => Promise<void>
  /** The store's Helia: networked when the network is on, else built on first use. */
  helia: HeliaRoom
  /** Damaged blocks a read found, fetched again from peers or gateways. */
  repairs: RepairQueue
  /** The blocks sublevel as a Blockstore (what Helia and UnixFS write through). */
  blockstore: ImportAwareBlockstore
  /** Open/closed and the write lock, shared by every room that must refuse work after stop. */
  guard: OpenGuard
  /** Set while stop runs (scheduled work stands down). */
  stopping: { value: boolean }
  events: EventEmitter<StoreEventMap>
  metrics: StoreMetrics
  meta: ChainMeta
  cache: ObjectCache
  reader: ChainReader
  writer: ChainWriter
  /** The last blocks committed, as the block protocol serves them to peers. */
  recentDags: RecentDags
  /** The chain's postings: the newest window in memory, older ones on disk. */
  postings: PostingWindows
  /** Loads the head's postings window into memory (at open, after a repair or restore). */
  loadPostings: () => Promise<void>
  /** Writes the postings windows held in memory and saves the head's for the next open (at a clean close). */
  closePostings: () => Promise<void>
  fetched: FetchCache
  tiered: TieredBlocks
  remote: RemoteBlocks
  pins: PinService
  /** Remote pinning services as extra replicas, when config remotePinning names any. */
  remotePins: RemotePins | null
  /** The audit trail (config audit.enabled). */
  audit: AuditLog | null
  collector: Collector
  files: Files
  statePins: StatePins
  /** Set once the lifecycle started them. */
  stateStore: StateStore | null
  attestations: AttestationsRoom | null
  replication: Replicator | null
  /** Scheduled backups (config backup.schedule), once started. */
  backups: BackupScheduler | null
  lifecycle: Lifecycle
  assertOpen: () => void
  /** A batch that claims the blocks it writes out of the fetch cache. */
  batch: () => StoreBatch
  /** Imports that write blocks before their pin vs deletions of blocks. */
  lock: ImportDeleteLock
  /** Bytes of a locally stored IPLD block; never the network. */
  localBytes: (cid: CID) => Uint8Array | undefined
  /** Writes IPLD blocks the caller hashed against their CIDs in one batch, unpinned (a cache fill). */
  putVerified: (blocks: Array<{ cid: CID, bytes: Uint8Array }>) => Promise<void>
}

/** What an embedding application may hand in. */
export type { HostParts }

/** What every room is built with: the config, LevelDB, the write lock and the open state. */
interface Base {
  config: ChainStoreConfig
  logger: Logger
  log: Logger
  db: RootDb
  blocks: BlocksDb
  sync: boolean
  /** Open/closed and the write lock, shared by every room that must refuse work after stop. */
  guard: OpenGuard
  /** Set while stop runs (scheduled work stands down). */
  stopping: { value: boolean }
  isOpen: () => boolean
  assertOpen: () => void
  /** The write lock, refusing a stopped store. */
  exclusive: <T>(fn: () => Promise<T>) => Promise<T>
  events: EventEmitter<StoreEventMap>
  metrics: StoreMetrics
  /** Set once composed: the rooms late-bound parts read (replication, started later). */
  rooms: () => Rooms | null
}

/**
 * The composition root: runs the migrations, starts Helia over the store's
 * blockstore (on the host's libp2p when one is handed in), and builds every
 * room from its slice of the config, wiring the write stages and commit
 * listeners of the one write pipeline. Rooms are started by the lifecycle.
 */
export async function composeRooms (config: ChainStoreConfig, logger: Logger, db: RootDb, blocks: BlocksDb, host: HostParts = {}): Promise<Rooms> {
  const log = logger.child({ room: 'node' })
  const policy = await resolvePolicy(config.pinning.preset, config.pinning.rules != null ? { rules: config.pinning.rules } : {})
  // schema first: a store from a newer version is refused before anything is written
  await migrateOnOpen(db, logger)
  const guard = new OpenGuard(() => new StoreClosedError('store is stopped'))
  let rooms: Rooms | null = null
  const base: Base = {
    config, logger, log, db, blocks, sync: config.durability === 'power', guard, stopping: { value: false },
    isOpen: () => guard.open,
    assertOpen: () => { guard.assertOpen() },
    exclusive: async fn => await guard.exclusive(fn),
    events: new EventEmitter<StoreEventMap>(),
    metrics: new StoreMetrics(config.alerts, log),
    rooms: () => rooms
  }
  const storage = buildStorage(base)
  const helia = await HeliaRoom.open(config, db, storage.blockstore, host, log)
  const chain = buildChain(base, storage, policy)
  const collector = buildCollector(base, storage, chain.cache)
  const files = new Files({ fs: async () => (await import('@helia/unixfs')).unixfs(helia.built ? helia.get() : { blockstore: storage.blockstore }), maxBlockBytes: config.limits.maxBlockBytes, exclusive: base.exclusive, startBatch: storage.batch, lock: storage.lock, readPin: chain.pins.readPin, sync: base.sync, onPinned: cid => { rooms?.remotePins?.changed(cid); rooms?.audit?.append('pin.added', { cid: cid.toString(), state: 'pinned', reasons: chain.pins.readPin(cid)?.reasons ?? [] }) } })
  const postingsParts: PostingsParts = { db, blocks, sync: base.sync, log, postings: chain.postings, head: () => chain.meta.head(), encoded: cid => chain.reader.encoded(cid) }
  rooms = {
    ...base, ...storage, ...chain, helia, collector, files,
    statePins: new StatePins(policy, chain.pins.readPin),
    putVerified: async list => {
      base.assertOpen()
      const batch = storage.batch()
      for (const x of list) batch.putBlock(x.cid, x.bytes)
      await batch.write(base.sync)
    },
    remotePins: buildRemotePins(base, chain.pins),
    audit: config.audit.enabled ? await AuditLog.open({ db, key: await loadNodeKey(config.dataDir, config.network.seed), sync: base.sync, logger }) : null,
    stateStore: null, attestations: null, replication: null, backups: null, lifecycle: new Lifecycle(),
    loadPostings: async () => { await loadPostings(postingsParts) },
    closePostings: async () => { await closePostings(postingsParts) },
    checkChain: async () => {
      const found = await checkContinuity(new HeightIndex(db), chain.meta.head(), { allowGaps: config.allowGaps })
      const damage = readLogDamage(db)
      const reason = [describeContinuity(found), damage == null ? null : describeLogDamage(damage)].filter(x => x != null).join('; ') || null
      if (reason != null) log.error({ missing: found.missing.slice(0, 20), aboveHead: found.aboveHead, logDamage: damage }, `chain damaged: ${reason}`)
      chain.writer.refuseWrites(reason)
    }
  }
  await rooms.loadPostings()
  await rooms.checkChain()
  return rooms
}

/** Storage's parts: the claiming batch, the fetch cache, the import/delete lock and the block source tiers. */
function buildStorage (b: Base): Pick<Rooms, 'batch' | 'fetched' | 'lock' | 'localBytes' | 'remote' | 'tiered' | 'repairs'> & { local: LevelSource, blockstore: ImportAwareBlockstore, gateways: GatewayClient | null } {
  const { config, db, blocks, sync } = b
  const fetched = new FetchCache(config.cache.fetchedMaxBytes)
  const lock = new ImportDeleteLock()
  const local = levelSource(blocks)
  /**
   * A batch over the root keyspace and the blockstore. While the fetch cache
   * holds blocks, every block the batch writes is claimed out of it: whatever
   * writes a block here (a chain import, a pin, putBytes) holds it, so the
   * cache's eviction must not delete it.
   */
  const batch = (): StoreBatch => {
    const out = startBatch(db, blocks)
    if (fetched.stats.entries === 0 && !fetched.evictionsPending) return out
    const put = out.putBlock
    out.putBlock = (cid, bytes) => { fetched.claim(out, cid); put(cid, bytes) }
    return out
  }
  const blockstore = new ImportAwareBlockstore(blocks as any)
  blockstore.verify = config.verifyReads
  // a file import touched a block: if the fetch cache holds it, the file's pin will; take it out now
  blockstore.touched = async (cid: CID) => {
    if (!lock.importing || !fetched.holds(cid)) return
    const claim = startBatch(db, blocks)
    fetched.claim(claim, cid)
    await claim.write(sync)
  }
  const gw = config.gateways
  const gateways = gw.enabled
    ? new GatewayClient({ gateways: gw.urls, timeoutMs: gw.timeoutMs, stallMs: gw.stallMs, maxBytes: config.limits.maxBlockBytes, maxCarBytes: gw.maxCarBytes, scores: openKv<GatewayScore>(db, GATEWAY_SCORES_NAMESPACE, { sync, isOpen: b.isOpen }), logger: b.log, onAttempt: a => { b.metrics.gatewayRequest(a.gateway, a.outcome) } })
    : null
  const remote = new RemoteBlocks()
  if (gateways != null) remote.add({ source: gatewayBlockSource(gateways) })
  const isPinned = (cid: CID): boolean => b.rooms()?.pins.readPin(cid) != null
  const tiered = new TieredBlocks({ db, blocks, local, fetched, remote, exclusive: async fn => await b.guard.run(fn), startBatch: batch, lock, isPinned, isOpen: b.isOpen, sync, log: b.log })
  const repairs = new RepairQueue({ remote, exclusive: async fn => await b.guard.run(fn), startBatch: batch, isOpen: b.isOpen, sync, log: b.log })
  // every chain read re-hashes what it read (Kubo's HashOnRead) unless the config trusts the disk;
  // a damaged block is fetched again from peers or gateways in the background
  const verified = (cid: CID): Uint8Array | undefined => {
    try {
      return local.getVerifiedSync(cid)
    } catch (err) {
      if (err instanceof CorruptDataError) { b.metrics.corruptRead('block'); repairs.add(cid) }
      throw err
    }
  }
  return { batch, fetched, lock, local, localBytes: config.verifyReads ? verified : local.getSync, remote, tiered, blockstore, gateways, repairs }
}

/** The chain room (reads, the write pipeline with its stages and listeners) and the pin service its stages feed. */
function buildChain (b: Base, storage: ReturnType<typeof buildStorage>, policy: PinPolicy): Pick<Rooms, 'meta' | 'cache' | 'reader' | 'writer' | 'pins' | 'postings' | 'recentDags'> {
  const { config, db, events, metrics } = b
  const meta = new ChainMeta(db)
  const heights = new HeightIndex(db)
  const records = new BlockRecords(db)
  const cache = new ObjectCache(config.cache.maxBytes)
  const chainPins = new ChainPins({ policy, heights, readPin: cid => pins.readPin(cid), finalized: () => meta.finalized() })
  const pins: PinService = new PinService({
    db, heights, chainPins, head: () => meta.head(), blockHeight: cid => records.heightOf(cid), localBytes: storage.localBytes,
    remote: storage.remote, gateways: storage.gateways, hasPeers: () => (b.rooms()?.replication?.libp2p.getConnections().length ?? 0) > 0,
    fetched: storage.fetched, exclusive: b.exclusive, lock: b.guard, startBatch: storage.batch, isOpen: b.isOpen, sync: b.sync,
    concurrency: config.pinning.concurrency, log: b.logger.child({ room: 'pins' }),
    onChange: (cid, change) => {
      const r = b.rooms()
      r?.remotePins?.changed(cid)
      const record = pins.readPin(cid)
      r?.audit?.append(change === 'released' ? 'pin.removed' : 'pin.added', { cid: cid.toString(), state: record?.state ?? 'none', reasons: record?.reasons ?? [] })
    }
  })
  const postings = new PostingWindows(db)
  const reader = new ChainReader({ db, postings, meta, heights, records, txs: new TxRecords(db), localBytes: storage.localBytes, cache, limits: config.limits, verifyReads: config.verifyReads, onCorrupt: kind => { metrics.corruptRead(kind) } })
  const recentDags = new RecentDags()
  const onCommit: CommitListener[] = [
    c => { for (const x of c.blocks) recentDags.add(x.block) },
    c => { metrics.blocksStored(c.blocks.length, c.blocks.reduce((n, x) => n + x.block.txs.length, 0), c.replicated) },
    // one audit event per batch, not per block or transaction
    c => {
      b.rooms()?.audit?.append(c.replicated ? 'blocks.imported' : 'blocks.stored', {
        blocks: c.blocks.length,
        txs: c.blocks.reduce((n, x) => n + x.block.txs.length, 0),
        from: c.blocks[0].block.height,
        to: c.blocks[c.blocks.length - 1].block.height,
        head: c.head?.height ?? null,
        last: c.blocks[c.blocks.length - 1].block.cid.toString()
      })
    },
    c => {
      for (const e of c.events) events.emit(STORE_EVENTS.block, e)
      if (c.moved && c.head != null) events.emit(STORE_EVENTS.head, c.head)
    }
  ]
  const writer: ChainWriter = new ChainWriter({
    meta, heights, records, stages: [blockBytesStage, indexStage(postings), chainPins], finality: [pins], onCommit,
    afterCommit: [
      async (w, o) => { if (o.finalized === true && w.encoded.length > 0) await writer.setFinalized(Math.max(...w.encoded.map(x => x.height))) },
      async (w, o) => {
        const replication = b.rooms()?.replication
        if (replication == null) return
        const fresh = w.encoded.filter((x, i) => w.stored[i].created)
        await replication.afterLocalWrite(fresh.map(x => ({ cid: x.cid, height: x.height, parent: x.parent, txCount: x.txs.length })), o)
      }
    ],
    startBatch: storage.batch, lock: b.guard, assertOpen: b.assertOpen, assertWritable: () => { assertWritable(db) }, sync: b.sync, allowGaps: config.allowGaps,
    reorged: event => {
      // heights now name other blocks; decoded objects keyed by height are stale
      cache.clear()
      if (event.removed.length > 0) events.emit(STORE_EVENTS.reorg, event)
      events.emit(STORE_EVENTS.head, event.to)
    },
    readEncoded: cid => reader.encoded(cid),
    postings,
    log: b.log
  })
  return { meta, cache, reader, writer, pins, postings, recentDags }
}

/** Remote pinning (src/pinning/remote.ts) when config remotePinning names services; its statuses persist in the kv store. */
function buildRemotePins (b: Base, pins: PinService): RemotePins | null {
  const r = b.config.remotePinning
  if (r.services.length === 0) return null
  return new RemotePins({
    services: r.services,
    reasons: r.reasons,
    intervalMs: r.intervalMs,
    timeoutMs: r.timeoutMs,
    kv: openKv<RemotePinStatus>(b.db, REMOTE_PINS_NAMESPACE, { sync: b.sync, isOpen: b.isOpen }),
    readPin: cid => pins.readPin(cid),
    origins: () => b.rooms()?.replication?.addresses() ?? [],
    log: b.logger.child({ room: 'remote-pins' })
  })
}

/** The garbage collector over the pin records, the fetch cache and replication's roots. */
function buildCollector (b: Base, storage: ReturnType<typeof buildStorage>, cache: ObjectCache): Collector {
  const { config } = b
  return new Collector({
    config: { ...config.gc, dataDir: config.dataDir, replicatedLogsDir: join(config.dataDir, NETWORK_DIR, 'orbitdb') },
    db: b.db,
    blocks: b.blocks,
    sync: b.sync,
    exclusive: b.exclusive,
    lock: storage.lock,
    fetchCache: { deleteEvicted: async () => { await storage.tiered.deleteEvicted() }, keys: () => storage.fetched.keys() },
    replicating: () => b.rooms()?.replication != null,
    keepRoots: async () => await b.rooms()!.replication!.keepRoots(),
    collected: summary => {
      b.rooms()?.audit?.append('gc', { scanned: summary.scanned, deleted: summary.deleted, bytesFreed: summary.bytesFreed })
      cache.clear()
      b.metrics.gcDone(summary)
      b.events.emit(STORE_EVENTS.gc, summary)
    },
    isOpen: () => b.guard.open && !b.stopping.value,
    log: b.log
  })
}

/**
 * A namespaced key-value store over the same LevelDB (JSON values). A
 * namespace config `attestations.encryptKinds` names as `kv.<namespace>` is
 * encrypted at rest under the keystore (see sealedKv).
 */
export function kvOf<V = unknown> (r: Rooms, namespace: string): KvStore<V> {
  const kv = openKv<V>(r.db, namespace, { sync: r.sync, isOpen: () => r.guard.open })
  if (!r.config.attestations.encryptKinds.includes(`kv.${namespace}`)) return kv
  const keystore = r.attestations?.keystore
  if (keystore == null) throw new InvalidQueryError(`kv namespace ${namespace} is to be encrypted (attestations.encryptKinds) but there is no keystore: enable attestations and give a master key`)
  return sealedKv<V>(kv as unknown as KvStore<string>, keystore, { assertOpen: r.assertOpen })
}

/** What maintenance code (backup, integrity, migrations) works on: LevelDB, the write lock, and a reload of what the rooms keep in memory. */
export function maintenanceOf (r: Rooms): MaintenanceAccess {
  return {
    db: r.db,
    blocks: r.blocks,
    sync: r.sync,
    exclusive: async <T>(fn: () => Promise<T>): Promise<T> => await r.writer.exclusive(fn),
    afterRepair: async () => {
      r.meta.reload()
      r.cache.clear()
      await r.loadPostings()
      await r.checkChain()
    }
  }
}
