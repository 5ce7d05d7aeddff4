import type { Libp2p } from '@libp2p/interface'
import type { Helia } from 'helia'
import type { Logger } from '../logger.ts'
import type { ReplicationComponents } from '../replication/types.ts'
import { StateStore } from '../state/store.ts'
import { kvOf, maintenanceOf, type Rooms } from './compose.ts'

/** Registers every room's start and stop, in the order they depend on each other (stop runs in reverse). */
export function addLifecycle (r: Rooms, logger: Logger, statusOf: () => Promise<unknown>): void {
  const { config, lifecycle } = r
  lifecycle.add({ name: 'level', stop: async () => { await r.db.close() } })
  // after the writes stop (stop runs in reverse): a cleanly closed store has every posting on disk
  lifecycle.add({ name: 'postings', stop: async () => { await r.closePostings() } })
  lifecycle.add({ name: 'audit', stop: async () => { await r.audit?.close() } })
  lifecycle.add({ name: 'helia', stop: async () => { await r.helia.stop() } })
  lifecycle.add({ name: 'repairs', stop: async () => { await r.repairs.stop() } })
  lifecycle.add({ name: 'fetch-cache', start: async () => { await r.fetched.load(r.db) } })
  lifecycle.add({
    name: 'attestations',
    start: async () => {
      if (config.attestations.enabled) r.attestations = await (await import('../attestations/index.ts')).startAttestations(config.attestations, { db: r.db, blocks: r.blocks, logger, sync: r.sync, audit: r.audit })
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
  // stopping closes the gate: writes in flight finish, new (and queued) ones are refused
  lifecycle.add({ name: 'writes', stop: async () => { await r.guard.close() } })
  lifecycle.add({
    name: 'replication',
    start: async () => {
      if (!config.network.enabled) return
      // loaded only when the network is on: OrbitDB, libp2p and bitswap stay out of a local store's start
      const [{ replication }, { peerBlockSource }] = await Promise.all([import('../replication/replicator.ts'), import('../replication/bitswap-tier.ts')])
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
  lifecycle.add({ name: 'remote-pins', start: async () => { r.remotePins?.start() }, stop: async () => { await r.remotePins?.stop() } })
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
  lifecycle.add({
    name: 'backup-schedule',
    start: async () => {
      const { schedule, destinations } = config.backup
      if (schedule.intervalMs == null || destinations.length === 0) return
      // loaded only when scheduled: the backup code (and a cloud SDK) stays out of a plain start
      const { BackupScheduler } = await import('../backup/schedule.ts')
      const names = schedule.destinations ?? destinations.map(d => d.name)
      r.backups = new BackupScheduler({
        store: { maintenance: () => maintenanceOf(r), config, audit: r.audit },
        destinations: destinations.filter(d => names.includes(d.name)).map(d => ({ name: d.name, spec: d })),
        intervalMs: schedule.intervalMs,
        fullEvery: schedule.fullEvery,
        metrics: r.metrics,
        logger
      })
      r.backups.start()
    },
    // first to stop: a run in flight reads the store
    stop: async () => { await r.backups?.stop() }
  })
}

/** What replication uses of the rooms: the chain's contracts and the block sink, never the node. */
function replicationComponents (r: Rooms, logger: Logger): ReplicationComponents {
  const w = r.writer
  return {
    libp2p: (r.helia.get() as Helia & { libp2p: Libp2p }).libp2p,
    helia: r.helia.get() as Helia & { libp2p: Libp2p },
    chain: {
      head: () => r.meta.head(),
      finalizedHeight: () => r.meta.finalized(),
      canonicalAt: height => r.reader.canonicalAt(height),
      blockHeight: cid => r.reader.blockHeight(cid),
      hasBlock: cid => r.reader.blockHeight(cid) != null,
      // a block just committed is served from memory: peers ask for it right after it is announced
      blockDag: cid => r.recentDags.get(cid) ?? r.reader.dag(cid),
      importBlocks: async blocks => await w.importBlocks(blocks),
      setCanonical: async tip => await w.setCanonical(tip),
      setFinalized: async height => { await w.setFinalized(height) }
    },
    blocks: { localBytes: r.localBytes, putVerifiedBlocks: r.putVerified },
    kv: namespace => kvOf(r, namespace),
    attestations: () => r.attestations?.attestations ?? null,
    logger
  }
}

