import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { Replicator } from '../replication/replicator.ts'
import type { Rooms } from './compose.ts'
import type { Health, NetworkStatus, StoreStatus } from './types.ts'

/** How long a measured data-dir size is reused (status is polled every second by the dashboard). */
const DISK_BYTES_TTL_MS = 2_000

/** Head, cache, pin and disk figures of a store, and its network when replication runs. */
export class StatusReader {
  readonly #r: Rooms
  #disk: { at: number, value: Promise<number> } | null = null

  constructor (rooms: Rooms) {
    this.#r = rooms
  }

  async status (): Promise<StoreStatus> {
    const r = this.#r
    const approximateBytes = await r.db.approximateSize(new Uint8Array([0]), new Uint8Array([0xff]))
    return {
      dataDir: r.config.dataDir,
      head: r.meta.head(),
      durability: r.config.durability,
      allowGaps: r.config.allowGaps,
      cache: r.cache.stats(),
      fetchCache: { ...r.fetched.stats },
      finalized: r.meta.finalized(),
      pins: r.pins.states(),
      approximateBytes,
      diskBytes: await this.#diskBytes(),
      blockstoreBytes: await r.collector.blockstoreBytes(),
      alerts: r.metrics.alerts(),
      latencyMs: r.metrics.latencies(),
      ...(r.replication != null ? { network: this.#network(r.replication) } : {})
    }
  }

  /** Liveness and readiness (see {@link Health}); `maxLag` heights behind the index tip still count as in sync. */
  health (open: boolean, maxLag: number): Health {
    const r = this.#r
    const head = open ? r.meta.head()?.height ?? null : null
    if (!open) return { live: false, ready: false, reasons: ['the store is stopped'], head }
    const rep = r.replication
    if (rep == null) return { live: true, ready: true, reasons: [], head }
    const connectedPeers = new Set(rep.libp2p.getConnections().map(c => c.remotePeer.toString())).size
    const tip = rep.fold.tip()
    const lag = tip == null ? 0 : Math.max(0, tip.height - (head ?? -1))
    const reasons = [
      ...(connectedPeers === 0 ? ['no peer connected'] : []),
      ...(lag > maxLag ? [`${lag} heights behind the best known head (${tip!.height}); ready within ${maxLag}`] : [])
    ]
    return { live: true, ready: reasons.length === 0, reasons, head, network: { connectedPeers, lag, maxLag } }
  }

  #network (rep: Replicator): NetworkStatus {
    const tip = rep.fold.tip()
    return {
      peerId: rep.peerId,
      identity: rep.identityId,
      addresses: rep.addresses(),
      connectedPeers: new Set(rep.libp2p.getConnections().map(c => c.remotePeer.toString())).size,
      indexTip: tip == null ? null : { height: tip.height, cid: tip.cid },
      lag: tip == null ? 0 : Math.max(0, tip.height - (this.#r.meta.head()?.height ?? -1)),
      queued: rep.stats.queued,
      stats: { ...rep.stats }
    }
  }

  /** The data dir's size on disk: a walk over its files, cached for a moment. */
  async #diskBytes (): Promise<number> {
    if (this.#disk != null && Date.now() - this.#disk.at < DISK_BYTES_TTL_MS) return await this.#disk.value
    const walk = async (dir: string): Promise<number> => {
      let total = 0
      for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
        const path = join(dir, entry.name)
        if (entry.isDirectory()) total += await walk(path)
        else if (entry.isFile()) total += (await stat(path).catch(() => ({ size: 0 }))).size
      }
      return total
    }
    this.#disk = { at: Date.now(), value: walk(this.#r.config.dataDir) }
    return await this.#disk.value
  }
}
