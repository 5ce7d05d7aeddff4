import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client'
import { buildInfo } from '../build-info.ts'
import type { Logger } from '../logger.ts'
import type { GcSummary } from '../pinning/gc.ts'
import type { PinState } from '../pinning/records.ts'
import { METRIC, type TimedOperation } from './names.ts'
import { OperationHistogram } from './op-histogram.ts'
import type { Alert, AlertThresholds, MetricsSource, RateSample, StatusReading } from './types.ts'

export { METRIC, TIMED_OPERATIONS, type TimedOperation } from './names.ts'
export type { Alert, AlertThresholds, MetricsSource, RateSample, StatusReading } from './types.ts'

const RECENT = 1000
const SAMPLES = 600
/** Buckets from 50 µs to 10 s: store reads are tens of microseconds, GC and syncs seconds. */
const BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10]

/**
 * The process's own metrics (CPU, heap, GC, event-loop lag, handles), in one
 * registry for the whole process, made on first use. They describe the
 * process, not a store, and prom-client's collectors cannot be stopped: the
 * GC histogram's `PerformanceObserver` and the event-loop delay monitor stay
 * registered for the life of the process and hold the registry they write
 * to. Per store they would keep every stopped store reachable (its registry's
 * gauges close over the store) and add a monitor per reopen; shared, there is
 * one of each and it references no store.
 */
let processRegistry: Registry | undefined
function processMetrics (): Registry {
  if (processRegistry == null) {
    processRegistry = new Registry()
    collectDefaultMetrics({ register: processRegistry })
  }
  return processRegistry
}

/**
 * The node's metrics: a prom-client registry (exposed on `/metrics` with the
 * process's metrics beside it), the
 * recent latencies alerts read, the one-second rate samples the dashboard
 * charts, and the alert evaluation. Counters the store drives directly
 * (operations, blocks stored, GC, gateway requests) are updated as things
 * happen; gauges read the store when scraped.
 */
export class StoreMetrics {
  readonly registry = new Registry()
  readonly #ops: OperationHistogram
  readonly #recent = new Map<string, { values: Float64Array, at: Float64Array, next: number, count: number, histogram: { observe: (v: number) => void } }>()
  /** A coarse clock for `observe` (ms, set by the one-second sample tick): cheaper than a clock read per call. */
  #clock = Date.now()
  readonly #blocks: Counter
  readonly #txs: Counter
  readonly #replicated: Counter
  readonly #gcRuns: Counter
  readonly #gcDeleted: Counter
  readonly #gcFreed: Counter
  readonly #gateway: Counter<'gateway' | 'outcome'>
  readonly #corrupt: Counter<'kind'>
  readonly #backupRuns: Counter<'destination' | 'outcome'>
  readonly #backupBytes: Counter<'destination'>
  readonly #backupLast: Gauge<'destination'>
  readonly #backupPruned: Counter<'destination'>
  readonly #thresholds: AlertThresholds
  readonly #log: Logger
  #source: MetricsSource | null = null
  #snapshot: { at: number, value: Promise<StatusReading> } | null = null
  #pins: { at: number, value: Promise<Record<PinState, number>> } | null = null
  readonly samples: RateSample[] = []
  /** Plain copies of the counters the dashboard samples (prom-client reads them asynchronously). */
  readonly #counts = { blocks: 0, transactions: 0, replicated: 0 }
  #alerts = new Map<Alert['name'], Alert>()
  #rejectedAt: Array<{ at: number, rejected: number }> = []
  #timers: NodeJS.Timeout[] = []

  constructor (thresholds: AlertThresholds, logger: Logger) {
    this.#thresholds = thresholds
    this.#log = logger.child({ room: 'metrics' })
    const registers = [this.registry]
    processMetrics()
    this.#ops = new OperationHistogram({ name: METRIC.OPERATION_SECONDS, help: 'Time of each store operation', buckets: BUCKETS, registers })
    this.#blocks = new Counter({ name: METRIC.BLOCKS_STORED, help: 'Blocks written here (local writes and replicated imports)', registers })
    this.#txs = new Counter({ name: METRIC.TRANSACTIONS_STORED, help: 'Transactions written here', registers })
    this.#replicated = new Counter({ name: METRIC.BLOCKS_REPLICATED, help: 'Blocks received from peers and imported', registers })
    this.#gcRuns = new Counter({ name: METRIC.GC_RUNS, help: 'Garbage collections run', registers })
    this.#gcDeleted = new Counter({ name: METRIC.GC_DELETED_BLOCKS, help: 'Blocks garbage collection deleted', registers })
    this.#gcFreed = new Counter({ name: METRIC.GC_FREED_BYTES, help: 'Block bytes garbage collection freed', registers })
    new Gauge({ name: METRIC.BUILD_INFO, help: 'The chainstore version and commit this node runs (always 1)', labelNames: ['version', 'commit'], registers }).set({ ...buildInfo() }, 1)
    this.#corrupt = new Counter({ name: METRIC.CORRUPT_READS, help: 'Local reads whose bytes did not hash to their CID (refused with CorruptDataError)', labelNames: ['kind'], registers })
    this.#backupRuns = new Counter({ name: METRIC.BACKUP_RUNS, help: 'Scheduled backups by destination and outcome', labelNames: ['destination', 'outcome'], registers })
    this.#backupBytes = new Counter({ name: METRIC.BACKUP_BYTES, help: 'CAR bytes written by scheduled backups', labelNames: ['destination'], registers })
    this.#backupLast = new Gauge({ name: METRIC.BACKUP_LAST_SUCCESS, help: 'When the last scheduled backup to a destination succeeded (Unix seconds)', labelNames: ['destination'], registers })
    this.#backupPruned = new Counter({ name: METRIC.BACKUP_PRUNED, help: 'Backups deleted by retention', labelNames: ['destination'], registers })
    this.#gateway = new Counter({ name: METRIC.GATEWAY_REQUESTS, help: 'Requests to IPFS trustless gateways by outcome', labelNames: ['gateway', 'outcome'], registers })
  }

  /** A scheduled backup to `destination` finished (src/backup/schedule.ts). */
  backupRun (destination: string, outcome: 'ok' | 'failed', bytes: number): void {
    this.#backupRuns.inc({ destination, outcome })
    if (outcome === 'ok') {
      this.#backupBytes.inc({ destination }, bytes)
      this.#backupLast.set({ destination }, Date.now() / 1000)
    }
  }

  /** Retention deleted `count` backups at `destination`. */
  backupsPruned (destination: string, count: number): void {
    this.#backupPruned.inc({ destination }, count)
  }

  /** Records one operation's time. */
  observe (op: TimedOperation, ms: number): void {
    let r = this.#recent.get(op)
    if (r == null) {
      // the operation's observer is kept: looking labels up per call costs as much as a cached read
      r = { values: new Float64Array(RECENT), at: new Float64Array(RECENT), next: 0, count: 0, histogram: this.#ops.labels(op) }
      this.#recent.set(op, r)
    }
    r.histogram.observe(ms / 1000)
    r.values[r.next] = ms
    r.at[r.next] = this.#clock
    r.next = (r.next + 1) % RECENT
    r.count = Math.min(RECENT, r.count + 1)
  }

  /** p50 and p99 in ms of each operation over its calls in the last `alerts.windowMs` (at most its last 1,000); operations idle that long are left out. */
  latencies (): Record<string, { p50: number, p99: number, count: number }> {
    const out: Record<string, { p50: number, p99: number, count: number }> = {}
    const since = Date.now() - this.#thresholds.windowMs
    for (const [op, r] of this.#recent) {
      const inWindow: number[] = []
      for (let i = 0; i < r.count; i++) if (r.at[i] >= since) inWindow.push(r.values[i])
      if (inWindow.length === 0) continue
      const sorted = Float64Array.from(inWindow).sort()
      out[op] = { p50: sorted[Math.floor((sorted.length - 1) * 0.5)], p99: sorted[Math.floor((sorted.length - 1) * 0.99)], count: sorted.length }
    }
    return out
  }

  blocksStored (blocks: number, transactions: number, replicated: boolean): void {
    this.#blocks.inc(blocks)
    this.#txs.inc(transactions)
    this.#counts.blocks += blocks
    this.#counts.transactions += transactions
    if (replicated) { this.#replicated.inc(blocks); this.#counts.replicated += blocks }
  }

  gcDone (s: GcSummary): void {
    this.#gcRuns.inc()
    this.#gcDeleted.inc(s.deleted)
    this.#gcFreed.inc(s.bytesFreed)
  }

  /** A local read refused: `block` bytes that do not hash to their CID, a `transaction` record that fails its id or checksum, an `index` entry (posting list, log record) that is damaged. */
  corruptRead (kind: 'block' | 'transaction' | 'index'): void {
    this.#corrupt.inc({ kind })
  }

  gatewayRequest (gateway: string, outcome: string): void {
    let host = gateway
    try { host = new URL(gateway).host } catch {}
    this.#gateway.inc({ gateway: host, outcome })
  }

  /** The Prometheus text of every metric, from one fresh read of the store. */
  async scrape (): Promise<string> {
    this.#snapshot = null
    // a throwaway registry over both: the store's metrics and the process's
    return await Registry.merge([this.registry, processMetrics()]).metrics()
  }

  /** Pin records by state; a key scan over the records, so at most every 10 s. */
  async pinCounts (): Promise<Record<PinState, number>> {
    if (this.#source == null) return { queued: 0, pinning: 0, pinned: 0, failed: 0 }
    if (this.#pins == null || Date.now() - this.#pins.at > 10_000) this.#pins = { at: Date.now(), value: this.#source.pinCounts() }
    return await this.#pins.value
  }

  /** Alerts firing now. */
  alerts (): Alert[] {
    return [...this.#alerts.values()]
  }

  /**
   * Connects the gauges to the store and starts the samplers: rates every
   * second for the dashboard, alerts every `intervalMs`.
   */
  start (source: MetricsSource): void {
    this.#source = source
    const registers = [this.registry]
    const status = async (): Promise<StatusReading> => {
      // one store read per scrape, however many gauges ask
      if (this.#snapshot == null || Date.now() - this.#snapshot.at > 500) this.#snapshot = { at: Date.now(), value: source.status() }
      return await this.#snapshot.value
    }
    const pins = async (): Promise<Record<PinState, number>> => await this.pinCounts()
    const gauge = (name: string, help: string, labelNames: string[], read: (g: Gauge<string>) => Promise<void>): void => {
      // prom-client calls collect with the metric as `this`, before each scrape
      new Gauge({ name, help, labelNames, registers, async collect () { this.reset(); await read(this) } })
    }
    const counterFromStatus = (name: string, help: string, labelNames: string[], read: (c: Counter<string>) => Promise<void>): void => {
      new Counter({ name, help, labelNames, registers, async collect () { this.reset(); await read(this) } })
    }
    // one series per alert, 0 or 1, so a dashboard sees it clear
    gauge(METRIC.ALERT_ACTIVE, 'An alert is firing (1) or not (0)', ['alert'], async g => {
      for (const name of ['replication-lag', 'p99-latency', 'disk-usage', 'rejected-entries']) g.set({ alert: name }, this.#alerts.has(name as Alert['name']) ? 1 : 0)
    })
    counterFromStatus(METRIC.CACHE_HITS, 'Reads answered by a cache tier', ['tier'], async c => {
      const s = await status()
      c.inc({ tier: 'memory' }, s.cache.hits)
      c.inc({ tier: 'fetched' }, s.fetchCache.hits)
    })
    counterFromStatus(METRIC.CACHE_MISSES, 'Reads a cache tier could not answer', ['tier'], async c => {
      const s = await status()
      c.inc({ tier: 'memory' }, s.cache.misses)
      c.inc({ tier: 'fetched' }, s.fetchCache.misses)
    })
    gauge(METRIC.CACHE_BYTES, 'Bytes a cache tier holds', ['tier'], async g => {
      const s = await status()
      g.set({ tier: 'memory' }, s.cache.bytes)
      g.set({ tier: 'fetched' }, s.fetchCache.bytes)
    })
    counterFromStatus(METRIC.FETCH_CACHE_EVICTIONS, 'Fetched blocks the fetch cache evicted', [], async c => { c.inc((await status()).fetchCache.evicted) })
    gauge(METRIC.HEAD_HEIGHT, 'Canonical head height (-1: empty)', [], async g => { g.set((await status()).head?.height ?? -1) })
    gauge(METRIC.FINALIZED_HEIGHT, 'Finalized height (-1: none)', [], async g => { g.set((await status()).finalized) })
    gauge(METRIC.BLOCKSTORE_BYTES, "LevelDB's estimate of the blockstore's bytes on disk", [], async g => { g.set((await status()).blockstoreBytes) })
    gauge(METRIC.DISK_BYTES, "Bytes the data dir's files take on disk", [], async g => { g.set((await status()).diskBytes) })
    gauge(METRIC.PINS, 'Pin records by state', ['state'], async g => {
      for (const [state, n] of Object.entries(await pins())) g.set({ state }, n)
    })
    gauge(METRIC.PEERS_CONNECTED, 'Connected peers', [], async g => { g.set((await status()).network?.connectedPeers ?? 0) })
    gauge(METRIC.NETWORK_ENABLED, 'Replication runs on this node (1) or not (0)', [], async g => { g.set((await status()).network != null ? 1 : 0) })
    gauge(METRIC.REPLICATION_LAG, "Heights this node's head trails the chain index's tip", [], async g => { g.set((await status()).network?.lag ?? 0) })
    gauge(METRIC.PEER_LAG, 'Heights a connected peer trails the best chain known here', ['peer'], async g => {
      for (const { peer, lag } of source.peerLags() ?? []) if (lag != null) g.set({ peer }, lag)
    })
    counterFromStatus(METRIC.ANNOUNCEMENTS_APPLIED, 'Chain-index announcements applied', [], async c => {
      c.inc(Number((await status()).network?.stats.announcementsApplied ?? 0))
    })
    counterFromStatus(METRIC.ENTRIES_REJECTED, 'Replicated entries rejected, by reason', ['reason'], async c => {
      const byReason = ((await status()).network?.stats.rejectedByReason ?? {}) as Record<string, number>
      for (const [reason, n] of Object.entries(byReason)) c.inc({ reason }, n)
    })
    counterFromStatus(METRIC.SIGNATURE_CHECKS, 'Log-entry and identity signature checks: verified in full, or answered from memory', ['result'], async c => {
      const checks = (await status()).network?.signatureChecks
      if (checks == null) return
      c.inc({ result: 'checked' }, checks.checked)
      c.inc({ result: 'remembered' }, checks.remembered)
    })
    counterFromStatus(METRIC.QUORUM_FAILURES, 'Quorum writes whose confirmations did not arrive in time', [], async c => {
      c.inc(Number((await status()).network?.stats.quorumFailures ?? 0))
    })
    this.#sample()
    this.#timers.push(setInterval(() => { this.#sample() }, 1000))
    this.#timers.push(setInterval(() => { void this.evaluate() }, this.#thresholds.intervalMs))
    for (const t of this.#timers) t.unref()
  }

  /** Takes the counters and the time together, synchronously, so no write lands between them. */
  #sample (): void {
    this.#clock = Date.now()
    this.samples.push({ at: Date.now(), ...this.#counts, announcements: this.#source?.announcementsApplied() ?? 0 })
    if (this.samples.length > SAMPLES) this.samples.splice(0, this.samples.length - SAMPLES)
  }

  /** Evaluates every threshold now; logs alerts as they start and clear. Returns those firing. */
  async evaluate (): Promise<Alert[]> {
    if (this.#source == null) return []
    const t = this.#thresholds
    let s: StatusReading
    try { s = await this.#source.status() } catch { return this.alerts() }
    const firing = new Map<Alert['name'], { message: string, value: number, threshold: number }>()
    if (t.replicationLagHeights != null) {
      const lags = [s.network?.lag ?? 0, ...(this.#source.peerLags() ?? []).map(p => p.lag ?? 0)]
      const worst = Math.max(...lags)
      if (worst > t.replicationLagHeights) firing.set('replication-lag', { message: `replication lag ${worst} heights (threshold ${t.replicationLagHeights})`, value: worst, threshold: t.replicationLagHeights })
    }
    if (t.p99LatencyMs != null) {
      let worst: { op: string, p99: number } | null = null
      for (const [op, l] of Object.entries(this.latencies())) if (l.count >= 20 && (worst == null || l.p99 > worst.p99)) worst = { op, p99: l.p99 }
      if (worst != null && worst.p99 > t.p99LatencyMs) firing.set('p99-latency', { message: `p99 of ${worst.op} is ${worst.p99.toFixed(1)} ms (threshold ${t.p99LatencyMs} ms)`, value: worst.p99, threshold: t.p99LatencyMs })
    }
    if (t.diskBytes != null && s.diskBytes > t.diskBytes) {
      firing.set('disk-usage', { message: `data dir takes ${s.diskBytes} bytes on disk (threshold ${t.diskBytes})`, value: s.diskBytes, threshold: t.diskBytes })
    }
    if (t.rejectedEntriesPerMinute != null) {
      const now = Date.now()
      const rejected = Number(s.network?.stats.rejected ?? 0)
      this.#rejectedAt.push({ at: now, rejected })
      this.#rejectedAt = this.#rejectedAt.filter(r => now - r.at <= 60_000)
      const inMinute = rejected - this.#rejectedAt[0].rejected
      if (inMinute > t.rejectedEntriesPerMinute) firing.set('rejected-entries', { message: `${inMinute} replicated entries rejected in the last minute (threshold ${t.rejectedEntriesPerMinute})`, value: inMinute, threshold: t.rejectedEntriesPerMinute })
    }
    for (const [name, a] of firing) {
      const was = this.#alerts.get(name)
      if (was == null) this.#log.warn({ alert: name, value: a.value, threshold: a.threshold }, a.message)
      this.#alerts.set(name, { name, ...a, since: was?.since ?? Date.now() })
    }
    for (const name of [...this.#alerts.keys()]) {
      if (!firing.has(name)) { this.#alerts.delete(name); this.#log.info({ alert: name }, 'alert cleared') }
    }
    return this.alerts()
  }

  stop (): void {
    for (const t of this.#timers.splice(0)) clearInterval(t)
  }
}
