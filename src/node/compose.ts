import { EventEmitter } from 'node:events'
import { join } from 'node:path'
import * as dagCbor from '@ipld/dag-cbor'
import { unixfs } from '@helia/unixfs'
import { LevelDatastore } from 'datastore-level'
import { createHeliaLight, type Helia } from 'helia'
import type { CID } from 'multiformats/cid'
import { startAttestations, type AttestationsRoom } from '../attestations/index.ts'
import { ChainMeta } from '../chain/meta.ts'
import { ChainReader } from '../chain/reader.ts'
import { blockBytesStage, indexStage } from '../chain/stages.ts'
import type { ChainEventMap, CommitListener } from '../chain/types.ts'
import { ChainWriter } from '../chain/writer.ts'
import { STORE_EVENTS } from '../chain/constants.ts'
import type { ChainStoreConfig } from '../config/index.ts'
import { Files } from '../files/service.ts'
import { GatewayClient, type GatewayScore } from '../gateway/client.ts'
import { gatewayBlockSource } from '../gateway/tier.ts'
import { BlockRecords, HeightIndex, TxRecords } from '../indexes/heights.ts'
import type { Logger } from '../logger.ts'
import { StoreMetrics } from '../metrics/index.ts'
import { migrateOnOpen } from '../migrations/index.ts'
import { ChainPins } from '../pinning/chain-pin.ts'
import { Collector } from '../pinning/collector.ts'
import type { GcSummary } from '../pinning/gc.ts'
import { resolvePolicy } from '../pinning/policy.ts'
import { PinService } from '../pinning/service.ts'
import { StatePins } from '../pinning/state-pins.ts'
import { NETWORK_DIR, loadPeerKey } from '../replication/keys.ts'
import { withNetwork } from '../replication/network.ts'
import { onHostLibp2p } from '../replication/host.ts'
import { peerBlockSource } from '../replication/bitswap-tier.ts'
import { withBitswap } from '@helia/bitswap'
import { replication, type Replicator } from '../replication/replicator.ts'
import type { ReplicationComponents } from '../replication/types.ts'
import type { Libp2p } from '@libp2p/interface'
import { StateStore } from '../state/index.ts'
import { ObjectCache } from '../storage/cache.ts'
import { InvalidQueryError, StoreClosedError } from '../storage/errors.ts'
import { FetchCache } from '../storage/fetch-cache.ts'
import { TieredBlocks } from '../storage/fetch-tier.ts'
import { ImportAwareBlockstore } from '../storage/import-aware.ts'
import { HELIA_SUBLEVEL } from '../storage/keys.ts'
import { openKv, type KvStore } from '../storage/kv.ts'
import { sealedKv } from '../storage/sealed-kv.ts'
import { openLevel, startBatch, type BlocksDb, type RootDb, type StoreBatch } from '../storage/level.ts'
import { ImportDeleteLock } from '../storage/lock.ts'
import { SerialQueue } from '../storage/serial.ts'
import { RemoteBlocks, levelSource } from '../storage/sources.ts'
import { Lifecycle } from './lifecycle.ts'

/** kv namespace where gateway scores persist. */
const GATEWAY_SCORES_NAMESPACE = 'gateway-scores'

/** Payloads of every event a store emits, by name. */
export interface StoreEventMap extends ChainEventMap {
  gc: [GcSummary]
}

/** Whether the store is open, shared by every room that must refuse work after stop. */
export interface OpenState {
  open: boolean
  stopping: boolean
}

/** The rooms of one store, built from the config's slices, and their lifecycle. */
export interface Rooms {
  config: ChainStoreConfig
  log: Logger
  db: RootDb
  blocks: BlocksDb
  sync: boolean
  helia: Helia
  state: OpenState
  events: EventEmitter<StoreEventMap>
  metrics: StoreMetrics
  meta: ChainMeta
  cache: ObjectCache
  reader: ChainReader
  writer: ChainWriter
  writes: SerialQueue
  fetched: FetchCache
  tiered: TieredBlocks
  remote: RemoteBlocks
  pins: PinService
  collector: Collector
  files: Files
  statePins: StatePins
  /** Set once the lifecycle started them. */
  stateStore: StateStore | null
  attestations: AttestationsRoom | null
  replication: Replicator | null
  lifecycle: Lifecycle
  assertOpen: () => void
  /** A batch that claims the blocks it writes out of the fetch cache. */
  batch: () => StoreBatch
  /** Imports that write blocks before their pin vs deletions of blocks. */
  lock: ImportDeleteLock
  /** Bytes of a locally stored IPLD block; never the network. */
  localBytes: (cid: CID) => Uint8Array | undefined
}

/**
 * The composition root: opens LevelDB (schema first), Helia over it, and
 * builds every room from its slice of the config, wiring the write stages
 * and commit listeners of the one write pipeline. Nothing is started.
 */
/** What an embedding application may hand in. */
export interface HostParts {
  /** The application's own libp2p node: chainstore registers its protocols and topics on it and opens no host of its own. */
  libp2p?: Libp2p
}

export async function composeRooms (config: ChainStoreConfig, logger: Logger, db: RootDb, blocks: BlocksDb, host: HostParts = {}): Promise<Rooms> {
  const log = logger.child({ room: 'node' })
  const policy = await resolvePolicy(config.pinning.preset, config.pinning.rules != null ? { rules: config.pinning.rules } : {})
  // schema first: a store from a newer version is refused before anything is written
  await migrateOnOpen(db, logger)
  const blockstore = new ImportAwareBlockstore(blocks as any)
  const datastore = new LevelDatastore(db.sublevel(HELIA_SUBLEVEL, { keyEncoding: 'utf8', valueEncoding: 'view' }) as any)
  let helia = createHeliaLight({ blockstore, datastore, codecs: [dagCbor] })
  if (config.network.enabled && host.libp2p != null) {
    helia = withBitswap(onHostLibp2p(helia, host.libp2p), { sendWantlistDebounce: 10, sendBlocksDebounce: 10 } as any)
  } else if (config.network.enabled) {
    helia = withNetwork(helia, { ...config.network, privateKey: await loadPeerKey(config.dataDir, config.network.seed) })
  }
  await helia.start()

  const sync = config.durability === 'power'
  const state: OpenState = { open: true, stopping: false }
  const isOpen = (): boolean => state.open
  const assertOpen = (): void => { if (!state.open) throw new StoreClosedError('store is stopped') }
  const writes = new SerialQueue()
  const exclusive = async <T>(fn: () => Promise<T>): Promise<T> => await writes.run(async () => { assertOpen(); return await fn() })
  const events = new EventEmitter<StoreEventMap>()
  const metrics = new StoreMetrics(config.alerts, log)
  const meta = new ChainMeta(db)
  const heights = new HeightIndex(db)
  const records = new BlockRecords(db)
  const cache = new ObjectCache(config.cache.maxBytes)
  const fetched = new FetchCache(config.cache.fetchedMaxBytes)
  const lock = new ImportDeleteLock()
  const local = levelSource(blocks)

  /**
   * A batch over the root keyspace and the blockstore. While the fetch cache
   * holds blocks, every block the batch writes is claimed out of it: whatever
   * writes a block here (a chain import, a pin, putBytes) holds it, so the
   * cache's eviction must not delete it.
   */
  const storeBatch = (): StoreBatch => {
    const batch = startBatch(db, blocks)
    if (fetched.stats.entries === 0 && !fetched.evictionsPending) return batch
    const put = batch.putBlock
    batch.putBlock = (cid, bytes) => { fetched.claim(batch, cid); put(cid, bytes) }
    return batch
  }
  // a file import touched a block: if the fetch cache holds it, the file's pin will; take it out now
  blockstore.touched = async (cid: CID) => {
    if (!lock.importing || !fetched.holds(cid)) return
    const batch = startBatch(db, blocks)
    fetched.claim(batch, cid)
    await batch.write(sync)
  }

  const gw = config.gateways
  const gateways = gw.enabled
    ? new GatewayClient({ gateways: gw.urls, timeoutMs: gw.timeoutMs, stallMs: gw.stallMs, maxBytes: config.limits.maxBlockBytes, maxCarBytes: gw.maxCarBytes, scores: openKv<GatewayScore>(db, GATEWAY_SCORES_NAMESPACE, { sync, isOpen }), logger: log, onAttempt: a => { metrics.gatewayRequest(a.gateway, a.outcome) } })
    : null
  const remote = new RemoteBlocks()
  if (gateways != null) remote.add({ source: gatewayBlockSource(gateways) })
  const tiered = new TieredBlocks({ db, blocks, local, fetched, remote, exclusive: async fn => await writes.run(fn), startBatch: storeBatch, lock, isPinned: cid => pins.readPin(cid) != null, isOpen, sync, log })

  let rooms: Rooms | null = null
  const chainPins = new ChainPins({ policy, heights, readPin: cid => pins.readPin(cid), finalized: () => meta.finalized() })
  const pins: PinService = new PinService({
    db,
    heights,
    chainPins,
    head: () => meta.head(),
    blockHeight: cid => records.heightOf(cid),
    localBytes: local.getSync,
    remote,
    gateways,
    hasPeers: () => (rooms?.replication?.libp2p.getConnections().length ?? 0) > 0,
    fetched,
    exclusive,
    lock: writes,
    startBatch: storeBatch,
    isOpen,
    sync,
    concurrency: config.pinning.concurrency,
    log: logger.child({ room: 'pins' })
  })
  const reader = new ChainReader({ db, meta, heights, records, txs: new TxRecords(db), localBytes: local.getSync, cache, limits: config.limits })
  const onCommit: CommitListener[] = [
    c => { metrics.blocksStored(c.blocks.length, c.blocks.reduce((n, b) => n + b.block.txs.length, 0), c.replicated) },
    c => {
      for (const e of c.events) events.emit(STORE_EVENTS.block, e)
      if (c.moved && c.head != null) events.emit(STORE_EVENTS.head, c.head)
    }
  ]
  const writer = new ChainWriter({
    meta,
    heights,
    records,
    stages: [blockBytesStage, indexStage, chainPins],
    finality: [pins],
    onCommit,
    afterCommit: [
      async (w, o) => { if (o.finalized === true && w.encoded.length > 0) await writer.setFinalized(Math.max(...w.encoded.map(b => b.height))) },
      async (w, o) => {
        const replication = rooms?.replication
        if (replication == null) return
        const fresh = w.encoded.filter((b, i) => w.stored[i].created)
        await replication.afterLocalWrite(fresh.map(b => ({ cid: b.cid, height: b.height, parent: b.parent, txCount: b.txs.length })), o)
      }
    ],
    startBatch: storeBatch,
    lock: writes,
    assertOpen,
    sync,
    allowGaps: config.allowGaps,
    reorged: event => {
      // heights now name other blocks; decoded objects keyed by height are stale
      cache.clear()
      if (event.removed.length > 0) events.emit(STORE_EVENTS.reorg, event)
      events.emit(STORE_EVENTS.head, event.to)
    },
    readEncoded: cid => reader.encoded(cid),
    log
  })
  const collector = new Collector({
    config: { ...config.gc, dataDir: config.dataDir, replicatedLogsDir: join(config.dataDir, NETWORK_DIR, 'orbitdb') },
    db,
    blocks,
    sync,
    exclusive,
    lock,
    fetchCache: { deleteEvicted: async () => { await tiered.deleteEvicted() }, keys: () => fetched.keys() },
    replicating: () => rooms?.replication != null,
    keepRoots: async () => await rooms!.replication!.keepRoots(),
    collected: summary => {
      cache.clear()
      metrics.gcDone(summary)
      events.emit(STORE_EVENTS.gc, summary)
    },
    isOpen: () => state.open && !state.stopping,
    log
  })
  const files = new Files({ fs: unixfs(helia), maxBlockBytes: config.limits.maxBlockBytes, exclusive, startBatch: storeBatch, lock, readPin: pins.readPin, sync })
  const statePins = new StatePins(policy, pins.readPin)

  rooms = {
    config, log, db, blocks, sync, helia, state, events, metrics, meta, cache, reader, writer, writes, fetched, tiered, remote, pins, collector, files, statePins,
    stateStore: null, attestations: null, replication: null, lifecycle: new Lifecycle(), assertOpen, batch: storeBatch, lock, localBytes: local.getSync
  }
  return rooms
}

/** Registers every room's start and stop, in the order they depend on each other (stop runs in reverse). */
export function addLifecycle (r: Rooms, logger: Logger, statusOf: () => Promise<unknown>): void {
  const { config, lifecycle } = r
  lifecycle.add({ name: 'level', stop: async () => { await r.db.close() } })
  lifecycle.add({ name: 'helia', stop: async () => { await r.helia.stop() } })
  lifecycle.add({ name: 'fetch-cache', start: async () => { await r.fetched.load(r.db) } })
  lifecycle.add({
    name: 'attestations',
    start: async () => {
      if (config.attestations.enabled) r.attestations = await startAttestations(config.attestations, { db: r.db, blocks: r.blocks, logger, sync: r.sync })
    },
    stop: async () => { await r.attestations?.stop() }
  })
  lifecycle.add({
    name: 'state',
    start: async () => {
      r.stateStore = await StateStore.open({
        db: r.db,
        blocks: r.blocks,
        sync: r.sync,
        logger,
        hooks: {
          commit: async (batch, root, height) => { await r.statePins.commit(batch, root, height) },
          rollback: async (batch, dropped) => { await r.statePins.rollback(batch, dropped) }
        }
      })
      r.statePins.attach(r.stateStore)
    },
    stop: async () => { await r.stateStore?.close() }
  })
  // stopping closes the gate: writes in flight finish, new ones are refused
  lifecycle.add({ name: 'writes', stop: async () => { r.state.open = false; await r.writes.idle() } })
  lifecycle.add({
    name: 'replication',
    start: async () => {
      if (!config.network.enabled) return
      const service = replication({ network: config.network, dataDir: config.dataDir, limits: config.limits, allowGaps: config.allowGaps })(replicationComponents(r, logger))
      r.replication = service
      const peers = peerBlockSource(async (cid, signal) => await service.getBytes(cid, signal), config.network.readTimeoutMs)
      r.remote.add({ describe: peers.describe, source: peers }, true)
      await service.start()
    },
    // replication first: a sync round in flight may still import into the open store
    stop: async () => { await r.replication?.stop() }
  })
  // pin jobs keep their queue entries: the next open resumes them
  lifecycle.add({ name: 'pins', start: async () => { await r.pins.start() }, stop: async () => { await r.pins.stop() } })
  lifecycle.add({
    name: 'metrics',
    start: () => {
      r.metrics.start({
        status: statusOf as any,
        pinCounts: async () => await r.pins.counts(),
        peerLags: () => r.replication == null ? null : [...r.replication.peerHeads.keys()].map(peer => ({ peer, lag: r.replication!.lagOf(peer) })),
        announcementsApplied: () => r.replication?.stats.announcementsApplied ?? 0
      })
    },
    stop: () => { r.metrics.stop() }
  })
  lifecycle.add({ name: 'gc-schedule', start: () => { r.collector.start() }, stop: () => { r.collector.stop() } })
}

/** What replication uses of the rooms: the chain's contracts and the block sink, never the node. */
function replicationComponents (r: Rooms, logger: Logger): ReplicationComponents {
  const w = r.writer
  return {
    libp2p: (r.helia as Helia & { libp2p: Libp2p }).libp2p,
    helia: r.helia as Helia & { libp2p: Libp2p },
    chain: {
      head: () => r.meta.head(),
      finalizedHeight: () => r.meta.finalized(),
      canonicalAt: height => r.reader.canonicalAt(height),
      blockHeight: cid => r.reader.blockHeight(cid),
      hasBlock: cid => r.reader.blockHeight(cid) != null,
      blockDag: cid => r.reader.dag(cid),
      importBlocks: async blocks => await w.importBlocks(blocks),
      setCanonical: async tip => await w.setCanonical(tip),
      setFinalized: async height => { await w.setFinalized(height) }
    },
    blocks: {
      localBytes: r.localBytes,
      putVerifiedBlocks: async blocks => {
        r.assertOpen()
        const batch = r.batch()
        for (const b of blocks) batch.putBlock(b.cid, b.bytes)
        await batch.write(r.sync)
      }
    },
    kv: namespace => kvOf(r, namespace),
    attestations: () => r.attestations?.attestations ?? null,
    logger
  }
}

/**
 * A namespaced key-value store over the same LevelDB (JSON values). A
 * namespace config `attestations.encryptKinds` names as `kv.<namespace>` is
 * encrypted at rest under the keystore (see sealedKv).
 */
export function kvOf<V = unknown> (r: Rooms, namespace: string): KvStore<V> {
  const kv = openKv<V>(r.db, namespace, { sync: r.sync, isOpen: () => r.state.open })
  if (!r.config.attestations.encryptKinds.includes(`kv.${namespace}`)) return kv
  const keystore = r.attestations?.keystore
  if (keystore == null) throw new InvalidQueryError(`kv namespace ${namespace} is to be encrypted (attestations.encryptKinds) but there is no keystore: enable attestations and give a master key`)
  return sealedKv<V>(kv as unknown as KvStore<string>, keystore, { assertOpen: r.assertOpen })
}
