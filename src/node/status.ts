import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { Replicator } from '../replication/replicator.ts'
import { writeFailure } from '../storage/level.ts'
import type { Rooms } from './compose.ts'
import type { Health, NetworkStatus, StoreStatus } from './types.ts'

/** How old the measured sizes may get before a status call starts measuring again (status is polled every second by the dashboard). */
const SIZES_TTL_MS = 2_000
/**
 * ...unless measuring takes long: the sizes may get this many times as old
 * as their last measurement took. The walk stats every file of the data dir
 * (~40 µs of CPU a file, and a large LevelDB holds tens of thousands of
 * 2 MiB tables), and the alert evaluation asks for status every 5 s: at
 * 20,000 files a walk took ~0.8 s of CPU, 16 % of a core with no dashboard
 * open. With the factor, measuring takes at most ~2 % of the time.
 */
const SIZES_COST_FACTOR = 50

/** How old measured sizes may get, given how long measuring them last took (ms). */
export function sizesMaxAge (measureMs: number): number {
  return Math.max(SIZES_TTL_MS, Math.ceil(measureMs * SIZES_COST_FACTOR))
}

interface Sizes { approximateBytes: number, diskBytes: number, blockstoreBytes: number }

/** Head, cache, pin and disk figures of a store, and its network when replication runs. */
export class StatusReader {
  readonly #r: Rooms
  /** The last sizes measured, and the measurement under way. */
  #sizes: { at: number, tookMs: number, value: Sizes } | null = null
  #measuring: Promise<Sizes> | null = null

  constructor (rooms: Rooms) {
    this.#r = rooms
  }

  /**
   * Everything but the sizes is read from memory. The sizes (a walk over the
   * data dir, LevelDB's size estimates) are measured off the request path:
   * a call answers with the last measurement and, when it is older than
   * {@link sizesMaxAge} (2 s, or 50 times what measuring took), starts the
   * next one; only the first call waits.
   * While the node ingests, each await of a walk waits behind a write
   * batch's CPU work, so a walk in the request took seconds.
   */
  async status (): Promise<StoreStatus> {
    const r = this.#r
    const sizes = await this.#currentSizes()
    return {
      dataDir: r.config.dataDir,
      head: r.meta.head(),
      durability: r.config.durability,
      allowGaps: r.config.allowGaps,
      cache: r.cache.stats(),
      fetchCache: { ...r.fetched.stats },
      finalized: r.meta.finalized(),
      pins: r.pins.states(),
      ...sizes,
      alerts: r.metrics.alerts(),
      latencyMs: r.metrics.latencies(),
      writesRefused: refusal(r),
      ...(r.replication != null ? { network: this.#network(r.replication) } : {})
    }
  }

  /** Liveness and readiness (see {@link Health}); `maxLag` heights behind the index tip still count as in sync. */
  health (open: boolean, maxLag: number): Health {
    const r = this.#r
    const head = open ? r.meta.head()?.height ?? null : null
    if (!open) return { live: false, ready: false, reasons: ['the store is stopped'], head }
    // fail-stop: only a reopen (a restart) makes the store writable again
    const refused = refusal(r)
    if (refused != null) return { live: false, ready: false, reasons: [refused], head }
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
      databases: rep.addressesOfDatabases(),
      discovery: rep.discovery,
      signatureChecks: rep.signatureChecks,
      stats: { ...rep.stats }
    }
  }

  async #currentSizes (): Promise<Sizes> {
    const fresh = this.#sizes != null && Date.now() - this.#sizes.at < sizesMaxAge(this.#sizes.tookMs)
    if (!fresh && this.#measuring == null) {
      const started = performance.now()
      this.#measuring = this.#measure().then(value => { this.#sizes = { at: Date.now(), tookMs: performance.now() - started, value }; return value }).finally(() => { this.#measuring = null })
    }
    return this.#sizes?.value ?? await this.#measuring!
  }

  async #measure (): Promise<Sizes> {
    const r = this.#r
    const walk = async (dir: string): Promise<number> => {
      let total = 0
      for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
        const path = join(dir, entry.name)
        if (entry.isDirectory()) total += await walk(path)
        else if (entry.isFile()) total += (await stat(path).catch(() => ({ size: 0 }))).size
      }
      return total
    }
    const [approximateBytes, diskBytes, blockstoreBytes] = await Promise.all([
      r.db.approximateSize(new Uint8Array([0]), new Uint8Array([0xff])),
      walk(r.config.dataDir),
      r.collector.blockstoreBytes()
    ])
    return { approximateBytes, diskBytes, blockstoreBytes }
  }

}

/** Why every write is refused (an earlier LevelDB write failed), or null. */
function refusal (r: Rooms): string | null {
  const failed = writeFailure(r.db)
  return failed == null ? null : `writes refused since a LevelDB write failed (${failed.message}); restart to reopen the data dir`
}
