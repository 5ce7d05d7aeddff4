/**
 * Replication at scale (issue 17): for N in BENCH_SCALE_PEERS (default
 * 3,6,12) peer processes on 127.0.0.1, each with at most
 * BENCH_SCALE_MAX_CONNECTIONS connections (default 4) and a profile that
 * names only bootstrap peers (the writer and the peer started before it),
 * the writer stores BENCH_SCALE_BLOCKS blocks (default 100) of
 * BENCH_SCALE_TXS transactions at BENCH_SCALE_RATE blocks/s (default 5: twelve
 * processes at ~25 ms of CPU per block already ask 1.5 of the 2 cores).
 * Reported per N: time until every peer holds the last block and the
 * validator entry (convergence, from the first write), the lag of each
 * height on each follower behind the writer (p50, p99), and per peer per
 * block: CPU ms (user + system of the process), bytes sent and received
 * (kernel TCP counters of the process's sockets, `ss -tinp`, sampled every
 * second so a closed connection keeps its bytes; null where `ss` is
 * missing) and connections. What the peers spend idle (10 s with no
 * blocks, after 15 s for start-up work to settle: pings, head polls,
 * discovery, gossipsub heartbeats) is measured first, reported per second,
 * and taken out of the per-block figures. The baseline of each figure is the
 * same figure at the smallest N of the run: how it grows with N is the
 * point (docs/SCALING.md turns it into a model).
 */
import { execFileSync } from 'node:child_process'
import { mkdir, rm } from 'node:fs/promises'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { PeerProcess } from '../src/devnet/controller.ts'
import type { ChainStoreConfigInput } from '../src/index.ts'
import { identityIdFromSeed } from '../src/replication/keys.ts'
import { figure, fmt, percentile, progress, type Figure } from './common.ts'
import { liveChildren } from './rss.ts'
import { peerExecArgv } from './replication.ts'

/** Settings of the scale part. */
export interface ScaleOptions {
  peers: number[]
  maxConnections: number
  blocks: number
  txsPerBlock: number
  ratePerSec: number
}

/** Settings from the environment. */
export function scaleOptionsFromEnv (): ScaleOptions {
  const list = (process.env.BENCH_SCALE_PEERS ?? '3,6,12').split(',').map(s => Number(s.trim())).filter(n => Number.isInteger(n) && n >= 2)
  const int = (name: string, fallback: number, min: number): number => {
    const v = Number(process.env[name] ?? fallback)
    return Number.isFinite(v) ? Math.max(min, Math.floor(v)) : fallback
  }
  return {
    peers: list.length > 0 ? list : [3, 6, 12],
    maxConnections: int('BENCH_SCALE_MAX_CONNECTIONS', 4, 2),
    blocks: int('BENCH_SCALE_BLOCKS', 100, 10),
    txsPerBlock: int('BENCH_SCALE_TXS', 100, 1),
    ratePerSec: int('BENCH_SCALE_RATE', 5, 1)
  }
}

/**
 * TCP bytes sent and received by processes, from the kernel's counters of
 * their sockets (`ss -tinp`). Those counters live only while a socket is
 * open, so the sockets are sampled every second and one that closes keeps
 * the counts of its last sample: totals only grow. (Until 2026-12-07 the
 * open sockets were summed at each end of a window, and a connection closed
 * inside it took all its bytes out of the sum: the idle traffic at N = 12,
 * where connections are trimmed and redialled, read negative.) Bytes a
 * socket moved between its last sample and its close are not counted.
 * `totals` gives null for every process when `ss` is not there.
 */
class TcpBytes {
  readonly #pids: number[]
  /** By pid, local and peer address: the socket's counters at its last sample. */
  readonly #sockets = new Map<string, { pid: number, sent: number, received: number }>()
  readonly #timer: NodeJS.Timeout
  #available = true
  #retired = 0

  constructor (pids: number[]) {
    this.#pids = pids
    this.#sample()
    this.#timer = setInterval(() => { this.#sample() }, 1000)
    this.#timer.unref()
  }

  #sample (): void {
    if (!this.#available) return
    let out: string
    try {
      out = execFileSync('ss', ['-tinpH', 'state', 'established'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
    } catch {
      this.#available = false
      return
    }
    // each socket: a line with its addresses naming the process (users:(("node",pid=123,fd=4))), then a line of tcp_info
    const lines = out.split('\n')
    for (let i = 0; i < lines.length; i++) {
      const pid = Number(/pid=(\d+),/.exec(lines[i])?.[1])
      if (!this.#pids.includes(pid)) continue
      const addresses = /(\S+:\d+)\s+(\S+:\d+)/.exec(lines[i])
      if (addresses == null) continue
      const info = lines[i] + ' ' + (lines[i + 1] ?? '')
      const key = `${pid} ${addresses[1]} ${addresses[2]}`
      const now = {
        pid,
        sent: Number(/bytes_sent:(\d+)/.exec(info)?.[1] ?? /bytes_acked:(\d+)/.exec(info)?.[1] ?? 0),
        received: Number(/bytes_received:(\d+)/.exec(info)?.[1] ?? 0)
      }
      // counters that went down: a new connection on the same addresses and ports; the old one's bytes stay counted
      const before = this.#sockets.get(key)
      if (before != null && (now.sent < before.sent || now.received < before.received)) this.#sockets.set(`${key} until ${this.#retired++}`, before)
      this.#sockets.set(key, now)
    }
  }

  /** Bytes each process (in the order given) sent and received over every socket seen so far, sampled now. */
  totals (): Array<{ sent: number, received: number } | null> {
    this.#sample()
    if (!this.#available) return this.#pids.map(() => null)
    return this.#pids.map(pid => {
      let sent = 0
      let received = 0
      for (const s of this.#sockets.values()) if (s.pid === pid) { sent += s.sent; received += s.received }
      return { sent, received }
    })
  }

  stop (): void { clearInterval(this.#timer) }
}

/** The idle window measured before the blocks come. */
const IDLE_MS = 10_000
/**
 * Quiet time before that window. Right after the warm-up blocks a peer still
 * spends ~50 ms of CPU per second on start-up work (compiling, the first
 * exchanges, GC of start-up garbage) that settles to ~35 within 15 s (3 peers,
 * 1 s ticks, measured 2026-12-05); counted as idle, it was taken out of the
 * per-block figures, which read low by 3-5 ms per block.
 */
const IDLE_SETTLE_MS = 15_000

interface RunResult {
  n: number
  convergeMs: number
  lag: { p50: number, p99: number }
  cpuMsPerBlock: { writer: number, followerMean: number, followerMax: number }
  bytesPerBlock: { sentMean: number, receivedMean: number, writerSent: number } | null
  connections: { mean: number, max: number }
  /** With no blocks coming: CPU ms per second and bytes per second (sent + received, halved) per peer, mean. */
  idle: { cpuMsPerSec: number, bytesPerSec: number | null }
  windowSec: number
  /** The idle peers alone used more than 80 % of the machine's cores: per-block CPU is not measurable (NaN). */
  saturated: boolean
}

async function runOnce (root: string, n: number, opts: ScaleOptions): Promise<RunResult> {
  const dir = join(root, `scale-${n}`)
  await mkdir(dir, { recursive: true })
  const peers: PeerProcess[] = []
  let tcp: TcpBytes | undefined
  const writers = [identityIdFromSeed('peer-1')]
  const config = (name: string, bootstrap: string[]): ChainStoreConfigInput => ({
    dataDir: join(dir, name),
    logLevel: 'error',
    network: { enabled: true, seed: name, writers, peers: bootstrap, maxConnections: opts.maxConnections, minConnections: Math.min(2, opts.maxConnections), intervalMs: 1000 }
  })
  try {
    progress(`scale: starting ${n} peers (at most ${opts.maxConnections} connections each, bootstrap lists only)`)
    const addrs: string[] = []
    for (let i = 1; i <= n; i++) {
      const bootstrap = [...new Set([addrs[0], addrs[addrs.length - 1]].filter((a): a is string => a != null))]
      const p = await PeerProcess.start(config(`peer-${i}`, bootstrap), { stdio: 'ignore', execArgv: peerExecArgv(`scale-${n}-peer-${i}`) })
      peers.push(p)
      liveChildren.add(p.child)
      p.child.once('exit', () => liveChildren.delete(p.child))
      addrs.push((await p.call('info')).addresses[0] as string)
    }
    const [writer, ...followers] = peers
    // warm-up: every peer holds a first block (connections and meshes settle)
    await writer.call('ingest', { count: 5, seed: 23, txs: opts.txsPerBlock })
    await Promise.all(followers.map(async p => await p.waitForHeight(4, 120_000)))
    const heads = peers.map(p => {
      const events: Array<{ height: number, t: number }> = []
      p.events.on('head', (e: any) => { events.push({ height: e.height, t: e.t }) })
      return events
    })
    // what the peers spend with no blocks coming (pings, head polls, discovery, gossipsub heartbeats), per second:
    // subtracted from the ingest window's totals, so per-block figures are the blocks' own cost
    await new Promise(resolve => setTimeout(resolve, IDLE_SETTLE_MS))
    tcp = new TcpBytes(peers.map(p => p.child.pid!))
    const idleCpu0 = await Promise.all(peers.map(async p => await p.call('cpu') as number))
    const idleBytes0 = tcp.totals()
    const idleStart = Date.now()
    await new Promise(resolve => setTimeout(resolve, IDLE_MS))
    const idleCpu1 = await Promise.all(peers.map(async p => await p.call('cpu') as number))
    const idleBytes1 = tcp.totals()
    const idleSec = (Date.now() - idleStart) / 1000
    const idleCpuPerSec = idleCpu1.map((c, i) => (c - idleCpu0[i]) / 1000 / idleSec)
    const idleBytesPerSec = idleBytes1.map((b, i) => b != null && idleBytes0[i] != null ? (b.sent - idleBytes0[i]!.sent + b.received - idleBytes0[i]!.received) / 2 / idleSec : NaN)
    const cpu0 = await Promise.all(peers.map(async p => await p.call('cpu') as number))
    const bytes0 = tcp.totals()
    const windowStart = Date.now()
    const first = 5
    const last = first + opts.blocks - 1
    // the writer's generating the synthetic chain is the test's work, not the node's: left out of its CPU per block,
    // and the clock starts at its first store (the convergence time used to include the generation)
    const { generateCpuUs, startedAt: started } = await writer.call('ingest', { count: opts.blocks, seed: 23, txs: opts.txsPerBlock, ratePerSec: opts.ratePerSec })
    await writer.call('putValidator', { id: 'val-a', state: { stake: '100', status: 'active', lastSeen: 1 } })
    await Promise.all(followers.map(async p => await p.waitForHeight(last, 300_000)))
    for (;;) {
      const v = await Promise.all(followers.map(async p => (await p.call('validators')).length as number))
      if (v.every(x => x === 1)) break
      if (Date.now() - started > 300_000) throw new Error('scale: validator state did not converge')
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    const convergeMs = Date.now() - started
    await Promise.all(peers.map(async p => await p.call('idle')))
    const cpu1 = await Promise.all(peers.map(async p => await p.call('cpu') as number))
    const bytes1 = tcp.totals()
    const windowSec = (Date.now() - windowStart) / 1000
    const connections = await Promise.all(peers.map(async p => (await p.call('connections')).peers as number))
    // lag of each height on each follower behind the writer
    const reach = (events: Array<{ height: number, t: number }>, h: number): number => events.find(e => e.height >= h)?.t ?? NaN
    const lags: number[] = []
    for (let h = first; h <= last; h++) {
      const t0 = reach(heads[0], h)
      for (let i = 1; i < peers.length; i++) lags.push(reach(heads[i], h) - t0)
    }
    const sorted = lags.filter(Number.isFinite).sort((a, b) => a - b)
    // idle peers already taking most of the machine: the window's CPU is capped by the cores, not the blocks, and the idle rate cannot be taken out
    const saturated = idleCpuPerSec.reduce((a, b) => a + b, 0) > 0.8 * cpus().length * 1000
    const cpu = cpu1.map((c, i) => saturated ? NaN : Math.max(0, (c - cpu0[i] - (i === 0 ? generateCpuUs : 0)) / 1000 - idleCpuPerSec[i] * windowSec) / opts.blocks)
    const followerCpu = cpu.slice(1)
    const perBlock = bytes1.every((b, i) => b != null && bytes0[i] != null)
      ? bytes1.map((b, i) => ({ sent: Math.max(0, b!.sent - bytes0[i]!.sent - idleBytesPerSec[i] * windowSec) / opts.blocks, received: Math.max(0, b!.received - bytes0[i]!.received - idleBytesPerSec[i] * windowSec) / opts.blocks }))
      : null
    const result: RunResult = {
      n,
      convergeMs,
      lag: { p50: percentile(sorted, 50), p99: percentile(sorted, 99) },
      cpuMsPerBlock: { writer: cpu[0], followerMean: followerCpu.reduce((a, b) => a + b, 0) / followerCpu.length, followerMax: Math.max(...followerCpu) },
      bytesPerBlock: perBlock == null ? null : { sentMean: perBlock.reduce((a, b) => a + b.sent, 0) / n, receivedMean: perBlock.reduce((a, b) => a + b.received, 0) / n, writerSent: perBlock[0].sent },
      connections: { mean: connections.reduce((a, b) => a + b, 0) / n, max: Math.max(...connections) },
      saturated,
      idle: { cpuMsPerSec: idleCpuPerSec.reduce((a, b) => a + b, 0) / n, bytesPerSec: idleBytesPerSec.every(Number.isFinite) ? idleBytesPerSec.reduce((a, b) => a + b, 0) / n : null },
      windowSec
    }
    if (saturated) progress(`scale N=${n}: WARNING the idle peers alone use ${fmt(idleCpuPerSec.reduce((a, b) => a + b, 0) / 10, 0)} % of one core × ${cpus().length}: CPU per block cannot be separated from the idle rate on this machine`)
    progress(`scale N=${n}: converged in ${fmt(convergeMs)} ms; lag p50 ${fmt(result.lag.p50)} ms, p99 ${fmt(result.lag.p99)} ms; CPU/block writer ${fmt(result.cpuMsPerBlock.writer, 2)} ms, followers ${fmt(result.cpuMsPerBlock.followerMean, 2)} ms (max ${fmt(result.cpuMsPerBlock.followerMax, 2)}); ` +
      (result.bytesPerBlock != null ? `bytes/block per peer sent ${fmt(result.bytesPerBlock.sentMean)} received ${fmt(result.bytesPerBlock.receivedMean)} (writer sent ${fmt(result.bytesPerBlock.writerSent)}); ` : '') +
      `connections mean ${fmt(result.connections.mean, 1)} max ${result.connections.max}; idle per peer ${fmt(result.idle.cpuMsPerSec, 1)} ms CPU/s, ${result.idle.bytesPerSec != null ? fmt(result.idle.bytesPerSec) : '?'} B/s`)
    return result
  } finally {
    tcp?.stop()
    await Promise.all(peers.map(async p => await p.stop().catch(() => {})))
    await rm(dir, { recursive: true, force: true })
  }
}

/** Runs the scale part for each N; every process and directory it starts is gone when it returns. */
export async function runScale (root: string, opts: ScaleOptions): Promise<Figure[]> {
  const results: RunResult[] = []
  for (const n of opts.peers) results.push(await runOnce(root, n, opts))
  const base = results[0]
  const group = `replication at scale: ${opts.blocks} blocks × ${opts.txsPerBlock} txs at ${opts.ratePerSec} blocks/s, at most ${opts.maxConnections} connections per peer, bootstrap lists only`
  const baseLabel = `same at N = ${base.n}`
  const figures: Figure[] = []
  for (const r of results) {
    const at = `N = ${r.n}`
    const withBase = (value: number, baseValue: number): { baseline?: { label: string, value: number } } => r === base ? {} : { baseline: { label: baseLabel, value: baseValue } }
    figures.push(figure({ id: `scale.${r.n}.convergeMs`, group, label: `${at}: every peer holds the last block and the validator entry`, unit: 'ms', value: r.convergeMs, better: 'lower', ...withBase(r.convergeMs, base.convergeMs), detail: { ...r } }))
    figures.push(figure({ id: `scale.${r.n}.lagP50`, group, label: '  lag p50 (follower head − writer head)', unit: 'ms', value: r.lag.p50, better: 'lower', ...withBase(r.lag.p50, base.lag.p50) }))
    figures.push(figure({ id: `scale.${r.n}.lagP99`, group, label: '  lag p99', unit: 'ms', value: r.lag.p99, better: 'lower', ...withBase(r.lag.p99, base.lag.p99) }))
    figures.push(figure({ id: `scale.${r.n}.cpuWriter`, group, label: '  CPU per block, writer (idle rate taken out)', unit: 'ms', value: r.cpuMsPerBlock.writer, better: 'lower', ...withBase(r.cpuMsPerBlock.writer, base.cpuMsPerBlock.writer) }))
    figures.push(figure({ id: `scale.${r.n}.cpuFollower`, group, label: '  CPU per block, follower (mean)', unit: 'ms', value: r.cpuMsPerBlock.followerMean, better: 'lower', ...withBase(r.cpuMsPerBlock.followerMean, base.cpuMsPerBlock.followerMean) }))
    if (r.bytesPerBlock != null && base.bytesPerBlock != null) {
      figures.push(figure({ id: `scale.${r.n}.bytesSent`, group, label: '  bytes sent per block per peer (mean, idle rate taken out)', unit: 'B', value: r.bytesPerBlock.sentMean, better: 'lower', ...withBase(r.bytesPerBlock.sentMean, base.bytesPerBlock.sentMean) }))
      figures.push(figure({ id: `scale.${r.n}.bytesReceived`, group, label: '  bytes received per block per peer (mean)', unit: 'B', value: r.bytesPerBlock.receivedMean, better: 'lower', ...withBase(r.bytesPerBlock.receivedMean, base.bytesPerBlock.receivedMean) }))
      figures.push(figure({ id: `scale.${r.n}.writerSent`, group, label: '  bytes sent per block by the writer', unit: 'B', value: r.bytesPerBlock.writerSent, better: 'lower', ...withBase(r.bytesPerBlock.writerSent, base.bytesPerBlock.writerSent) }))
    }
    figures.push(figure({ id: `scale.${r.n}.idleCpu`, group, label: '  idle CPU per peer (no blocks: pings, head polls, discovery, gossip heartbeats)', unit: 'ms/s', value: r.idle.cpuMsPerSec, better: 'lower', ...withBase(r.idle.cpuMsPerSec, base.idle.cpuMsPerSec) }))
    if (r.idle.bytesPerSec != null && base.idle.bytesPerSec != null) figures.push(figure({ id: `scale.${r.n}.idleBytes`, group, label: '  idle traffic per peer (sent + received, halved)', unit: 'B/s', value: r.idle.bytesPerSec, better: 'lower', ...withBase(r.idle.bytesPerSec, base.idle.bytesPerSec) }))
    figures.push(figure({ id: `scale.${r.n}.connections`, group, label: '  connections per peer (mean; max)', unit: 'conns', value: r.connections.mean, better: 'lower', goal: { text: `max ≤ ${opts.maxConnections}`, met: r.connections.max <= opts.maxConnections }, detail: { ...r.connections } }))
  }
  return figures
}
