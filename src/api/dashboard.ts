import { buildInfo } from '../build-info.ts'
import type { ChainStore } from '../node/chainstore.ts'
import type { RateSample } from '../metrics/index.ts'

/** Validator score history the dashboard charts: a point per validator every {@link TREND_EVERY_MS}. */
const TREND_EVERY_MS = 5_000
const TREND_POINTS = 120

interface Trends { at: number, series: Map<string, Array<{ at: number, mean: number }>> }
const trendsOf = new WeakMap<ChainStore, Trends>()

/** Samples a rate spans: like Prometheus' rate() over a window, so one late timer or a write landing on a boundary does not read as a stall. */
const RATE_WINDOW = 3

/** Validators whose attestations are kept here: mean score per minute over the last hour, from the rollups (at most 20 validators). */
async function attestationTrends (store: ChainStore, now: number): Promise<Map<string, Array<{ at: number, mean: number }>>> {
  const out = new Map<string, Array<{ at: number, mean: number }>>()
  const a = store.attestations
  if (a == null) return out
  for await (const { validator } of a.validators()) {
    if (out.size >= 20) break
    const buckets = await a.aggregate({ validator, resolution: 'minute', from: now - 3_600_000, to: now + 60_000 })
    out.set(validator, buckets.map(b => ({ at: b.bucket, mean: b.mean })))
  }
  return out
}

/** Per-second rates over a sliding window of samples. */
function rates (samples: RateSample[]): Array<{ at: number, blocks: number, transactions: number, replicated: number, announcements: number }> {
  const out = []
  for (let i = 1; i < samples.length; i++) {
    const a = samples[Math.max(0, i - RATE_WINDOW)]
    const b = samples[i]
    const secs = Math.max(0.001, (b.at - a.at) / 1000)
    out.push({
      at: b.at,
      blocks: (b.blocks - a.blocks) / secs,
      transactions: (b.transactions - a.transactions) / secs,
      replicated: (b.replicated - a.replicated) / secs,
      announcements: (b.announcements - a.announcements) / secs
    })
  }
  return out
}

/**
 * Everything the dashboard at `/` shows, in one JSON document: head and
 * finality, ingest and replication rates (last 10 minutes, per second), peers
 * with lag and reputation, pins and disk, cache hit rates, operation
 * latencies, validator score trends and alerts.
 */
export async function dashboardData (store: ChainStore, where: { api: string }): Promise<unknown> {
  const status = await store.status()
  const peers = store.replication != null ? await store.replication.peers() : []
  const validators = store.replication != null ? await store.replication.validators() : []
  let trends = trendsOf.get(store)
  if (trends == null) { trends = { at: 0, series: new Map() }; trendsOf.set(store, trends) }
  const now = Date.now()
  if (now - trends.at >= TREND_EVERY_MS) {
    trends.at = now
    for (const v of validators) {
      if (v.state.score == null) continue
      const points = trends.series.get(v.id) ?? []
      points.push({ at: now, mean: v.state.score.mean })
      if (points.length > TREND_POINTS) points.splice(0, points.length - TREND_POINTS)
      trends.series.set(v.id, points)
    }
  }
  const hitRate = (hits: number, misses: number): number | null => hits + misses === 0 ? null : hits / (hits + misses)
  const attested = await attestationTrends(store, now)
  const cfg = store.config
  return {
    now,
    node: {
      ...buildInfo(),
      uptimeSeconds: Math.round(process.uptime()),
      dataDir: status.dataDir,
      durability: status.durability,
      network: store.replication != null ? 'on' : 'off',
      listen: store.replication != null ? cfg.network.listen : [],
      announce: store.replication != null ? cfg.network.announce : [],
      addresses: status.network?.addresses ?? [],
      api: where.api
    },
    head: status.head,
    finalized: status.finalized,
    network: status.network == null
      ? null
      : { peerId: status.network.peerId, connectedPeers: status.network.connectedPeers, indexTip: status.network.indexTip, lag: status.network.lag, queued: status.network.queued },
    rates: rates(store.metrics.samples),
    peers: peers.map(p => ({ peerId: p.peerId, lag: p.lag, head: p.head, reputation: p.reputation, banned: p.banned })),
    pins: await store.metrics.pinCounts(),
    disk: { bytes: status.diskBytes, blockstoreBytes: status.blockstoreBytes },
    cache: {
      memory: { hitRate: hitRate(status.cache.hits, status.cache.misses), bytes: status.cache.bytes, maxBytes: status.cache.maxBytes },
      fetched: { hits: status.fetchCache.hits, entries: status.fetchCache.entries, bytes: status.fetchCache.bytes, maxBytes: status.fetchCache.maxBytes, evicted: status.fetchCache.evicted }
    },
    latencyMs: status.latencyMs,
    latencyWindowMs: cfg.alerts.windowMs,
    validators: [
      ...validators.map(v => ({ id: v.id, status: v.state.status, stake: v.state.stake, score: v.state.score ?? null, trend: attested.get(v.id) ?? trends.series.get(v.id) ?? [] })),
      // validators known only from attestations kept here
      ...[...attested].filter(([id]) => !validators.some(v => v.id === id)).map(([id, trend]) => ({ id, status: 'attesting', stake: '–', score: trend.length > 0 ? { count: trend.length, mean: trend[trend.length - 1].mean, min: 0, max: 0 } : null, trend }))
    ],
    alerts: status.alerts
  }
}
