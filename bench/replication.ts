/**
 * Replication between chainstore peers, each in its own process
 * (`src/devnet/peer.ts` through `PeerProcess`), on 127.0.0.1 only:
 *
 * 1. index replication to a live peer: peer 1 stores BENCH_REPL_BLOCKS
 *    blocks at BENCH_REPL_RATE blocks/s while peer 2 follows; the lag of a
 *    height is the time peer 2's head reached it minus the time peer 1's head
 *    reached it (both from the peers' `head` events, Date.now() on one clock);
 * 2. a late joiner (peer 3) syncing that chain from peer 1;
 * 3. the baseline for 1 and 2: vanilla OrbitDB, one keyvalue entry per
 *    transaction, writer and reader in separate processes (`repl-child.ts`);
 * 4. propagation: peer 1 stores BENCH_REPL_PROP_BLOCKS blocks as fast as it
 *    can while peers 2 and 3 follow, against plain bitswap fetching the same
 *    IPLD blocks (header, then each page) one at a time from peer 1;
 * 5. write latency of single-block `storeBlocks` calls with consistency
 *    'one' against 'quorum' (replicas: peers 2 and 3).
 */
import { fork, type ChildProcess } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { PeerProcess } from '../src/devnet/controller.ts'
import { NODE_MEMORY_FLAGS } from '../src/config/constants.ts'
import type { ChainStoreConfigInput } from '../src/index.ts'
import { identityIdFromSeed, peerIdFromSeed } from '../src/replication/keys.ts'
import { benchLevel, envInt, figure, fmt, percentile, progress, type Figure } from './common.ts'
import type { ChildRole } from './repl-child.ts'
import { liveChildren } from './rss.ts'

/** Settings of the replication part. */
export interface ReplicationOptions {
  /** Blocks peer 1 stores while peer 2 follows (figures 1 and 2). */
  blocks: number
  /** Rate of that ingest, blocks/s (one block per storeBlocks call). */
  ratePerSec: number
  /** Transactions per block of the replicated chain. */
  txsPerBlock: number
  /** Blocks of the unthrottled propagation run (figure 4). */
  propagationBlocks: number
  /** Blocks per storeBlocks call in the propagation run. */
  propagationBatch: number
  /** Blocks the plain-bitswap baseline fetches. */
  bitswapBlocks: number
  /** Entries (transactions) of the vanilla OrbitDB baseline. */
  orbitTxs: number
  /** Single-block storeBlocks calls per consistency level. */
  writes: number
}

/**
 * Node flags of a peer process: the devnet's memory flags (or
 * BENCH_PEER_NODE_FLAGS), plus a CPU
 * profile per peer (`<dir>/<peer>-<pid>.cpuprofile`, written when the peer
 * stops) when BENCH_PEER_CPU_PROF=<dir> is set (NODE_OPTIONS refuses
 * --cpu-prof).
 */
export function peerExecArgv (name: string): string[] {
  const flags = peerNodeFlags()
  const dir = process.env.BENCH_PEER_CPU_PROF
  if (dir == null || dir === '') return flags
  return [...flags, '--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${name}-\${pid}.cpuprofile`]
}

/** The peers' Node flags without profiling: the devnet's memory flags, or BENCH_PEER_NODE_FLAGS (space-separated; empty: none), to weigh them against CPU. */
function peerNodeFlags (): string[] {
  const override = process.env.BENCH_PEER_NODE_FLAGS
  return override == null ? NODE_MEMORY_FLAGS : override.split(/\s+/).filter(f => f !== '')
}

const IMPORT_COST_CHILD = join(import.meta.dirname, 'import-cost-child.ts')
/** Blocks the same-run import baseline imports (after 20 warm-up blocks). */
const IMPORT_COST_BLOCKS = 300

/**
 * CPU per block of rebuilding and importing the devnet chain's blocks with
 * no network, `batch` blocks per call, in a process started like the peers
 * (`import-cost-child.ts`): the same-run floor under a peer's CPU per block.
 */
async function importCost (dir: string, txs: number, batch: number): Promise<number> {
  const child = fork(IMPORT_COST_CHILD, [JSON.stringify({ dir, seed: SEED, txs, blocks: IMPORT_COST_BLOCKS + 20, batch })], { execPath: process.execPath, execArgv: peerNodeFlags(), stdio: ['ignore', 'pipe', 'inherit', 'ipc'] })
  liveChildren.add(child)
  let out = ''
  child.stdout!.on('data', (d: Buffer) => { out += d.toString() })
  const code = await new Promise<number | null>(resolve => child.once('exit', resolve))
  liveChildren.delete(child)
  if (code !== 0) throw new Error(`replication: import-cost child exited with ${String(code)}`)
  return (JSON.parse(out.trim().split('\n').pop()!) as { cpuMsPerBlock: number }).cpuMsPerBlock
}

/** Settings from the environment. */
export function replicationOptionsFromEnv (): ReplicationOptions {
  return {
    blocks: Math.max(10, envInt('BENCH_REPL_BLOCKS', 1_000)),
    ratePerSec: Math.max(1, envInt('BENCH_REPL_RATE', 100)),
    txsPerBlock: 100,
    propagationBlocks: Math.max(10, envInt('BENCH_REPL_PROP_BLOCKS', 1_000)),
    propagationBatch: Math.max(1, envInt('BENCH_REPL_PROP_BATCH', 10)),
    bitswapBlocks: Math.max(1, envInt('BENCH_REPL_BITSWAP_BLOCKS', 200)),
    orbitTxs: Math.max(10, envInt('BENCH_REPL_ORBIT_TXS', 2_000)),
    writes: Math.max(10, envInt('BENCH_REPL_WRITES', 200))
  }
}

const CHILD = join(import.meta.dirname, 'repl-child.ts')
const SEED = 1
/** Blocks stored and replicated before anything is timed (connections, gossipsub mesh, JIT). */
const WARM_UP_BLOCKS = 5

/** A `repl-child.ts` process driven over IPC. */
class Child {
  readonly events = new EventEmitter()
  readonly #pending = new Map<number, { resolve: (v: any) => void, reject: (e: Error) => void }>()
  #next = 0
  readonly exited: Promise<void>
  readonly proc: ChildProcess
  private constructor (proc: ChildProcess, role: ChildRole) {
    this.proc = proc
    this.exited = new Promise(resolve => proc.once('exit', code => {
      for (const p of this.#pending.values()) p.reject(new Error(`${role} child exited (${String(code)})`))
      this.#pending.clear()
      resolve()
    }))
    proc.on('message', (msg: any) => {
      if (msg.event != null) { this.events.emit(msg.event, msg); return }
      const p = this.#pending.get(msg.id)
      if (p == null) return
      this.#pending.delete(msg.id)
      if (msg.ok === true) p.resolve(msg.result)
      else p.reject(new Error(`${role}: ${String(msg.error?.name)}: ${String(msg.error?.message)}`))
    })
  }

  static async start (role: ChildRole, dir: string, extra: { peer?: string, address?: string } = {}): Promise<{ child: Child, ready: any }> {
    const proc = fork(CHILD, [JSON.stringify({ role, dir, ...extra })], { execPath: process.execPath, execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    liveChildren.add(proc)
    proc.once('exit', () => liveChildren.delete(proc))
    const child = new Child(proc, role)
    const ready = await new Promise<any>((resolve, reject) => {
      child.events.once('ready', resolve)
      proc.once('exit', code => reject(new Error(`${role} child exited during start (${String(code)})`)))
    })
    return { child, ready }
  }

  async call<T = any> (op: string, args: unknown = {}): Promise<T> {
    const id = this.#next++
    return await new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject })
      this.proc.send({ id, op, args })
    })
  }

  async stop (): Promise<void> {
    if (this.proc.exitCode != null || this.proc.signalCode != null) return
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 10_000)
    await this.call('stop').catch(() => {})
    await this.exited
    clearTimeout(timer)
  }
}

interface HeadEvent { height: number, t: number }

/** Records a peer's head events from now on. */
function recordHeads (peer: PeerProcess): { events: HeadEvent[], off: () => void } {
  const events: HeadEvent[] = []
  const on = (e: any): void => { events.push({ height: e.height, t: e.t }) }
  peer.events.on('head', on)
  return { events, off: () => peer.events.off('head', on) }
}

/** For every height in [from, to], the time the head first stood at or above it. */
function reachTimes (events: HeadEvent[], from: number, to: number): number[] {
  const out = new Array<number>(to - from + 1).fill(NaN)
  let h = from
  for (const e of [...events].sort((a, b) => a.t - b.t)) {
    while (h <= to && e.height >= h) { out[h - from] = e.t; h++ }
  }
  if (h <= to) throw new Error(`head events stop at height ${h - 1}, expected ${to}`)
  return out
}

function stats (values: number[]): { p50: number, p99: number, max: number, mean: number, n: number } {
  const s = [...values].sort((a, b) => a - b)
  return { p50: percentile(s, 50), p99: percentile(s, 99), max: s[s.length - 1], mean: s.reduce((a, b) => a + b, 0) / s.length, n: s.length }
}

/** Runs the replication part; every process and directory it starts is gone when it returns. */
export async function runReplication (root: string, opts: ReplicationOptions): Promise<Figure[]> {
  const dir = join(root, 'replication')
  await mkdir(dir, { recursive: true })
  const peers: PeerProcess[] = []
  const children: Child[] = []
  const writers = [identityIdFromSeed('peer-1')]
  const config = (name: string, network: ChainStoreConfigInput['network'] = {}): ChainStoreConfigInput => ({
    dataDir: join(dir, name), logLevel: 'error', level: { compression: benchLevel().compression }, network: { enabled: true, seed: name, writers, ...network }
  })
  const startPeer = async (name: string, network: ChainStoreConfigInput['network'] = {}): Promise<PeerProcess> => {
    const p = await PeerProcess.start(config(name, network), { stdio: 'inherit', execArgv: peerExecArgv(name) })
    peers.push(p)
    liveChildren.add(p.child)
    p.child.once('exit', () => liveChildren.delete(p.child))
    return p
  }
  const startChild = async (role: ChildRole, name: string, extra: { peer?: string, address?: string } = {}): Promise<{ child: Child, ready: any }> => {
    const r = await Child.start(role, join(dir, name), extra)
    children.push(r.child)
    return r
  }
  const txs = opts.txsPerBlock
  try {
    // ------------------------------------------------ 1. live peer, rate-limited
    const replicas = [await peerIdFromSeed('peer-2'), await peerIdFromSeed('peer-3')]
    progress(`replication: starting peer 1 (writer) and peer 2 in separate processes`)
    const p1 = await startPeer('peer-1', { replicas })
    const info1 = await p1.call('info')
    const addr1: string = info1.addresses[0]
    const p2 = await startPeer('peer-2', { peers: [addr1] })
    const info2 = await p2.call('info')
    if (info2.peerId !== replicas[0]) throw new Error(`replication: peer 2 has id ${String(info2.peerId)}, expected ${replicas[0]}`)
    for (const a of [...info1.addresses, ...info2.addresses]) if (!String(a).startsWith('/ip4/127.0.0.1/')) throw new Error(`replication: a peer listens beyond loopback: ${String(a)}`)
    await p1.call('ingest', { count: WARM_UP_BLOCKS, seed: SEED, txs, batch: 1 })
    await p2.waitForHeight(WARM_UP_BLOCKS - 1, 60_000)

    const first = WARM_UP_BLOCKS
    const last = first + opts.blocks - 1
    const liveFloor = await importCost(join(dir, 'import-cost-live'), txs, 1)
    progress(`replication: same-run floor, the devnet chain rebuilt from bytes and imported with no network, 1 block per call: ${fmt(liveFloor, 2)} ms CPU per block`)
    progress(`replication: peer 1 stores ${fmt(opts.blocks)} blocks × ${txs} txs at ${opts.ratePerSec} blocks/s (1 per call); peer 2 follows`)
    const h1 = recordHeads(p1)
    const h2 = recordHeads(p2)
    const cpuBefore = await Promise.all([p1, p2].map(async p => await p.call('cpu') as number))
    const sigBefore = await Promise.all([p1, p2].map(async p => (await p.call('stats')).signatures as { checked: number, remembered: number }))
    const live = await p1.call('ingest', { count: opts.blocks, seed: SEED, txs, batch: 1, ratePerSec: opts.ratePerSec })
    await p2.waitForHeight(last, 120_000 + opts.blocks * 100)
    await p2.call('idle')
    const cpuAfter = await Promise.all([p1, p2].map(async p => await p.call('cpu') as number))
    const sigAfter = await Promise.all([p1, p2].map(async p => (await p.call('stats')).signatures as { checked: number, remembered: number }))
    // CPU per replicated block of each process over the live phase (writer: store + announce + serve; follower: fold + fetch + verify + import);
    // the writer's generating the synthetic chain is the test's work, not the node's, and is taken out
    const cpuPerBlock = cpuAfter.map((c, i) => (c - cpuBefore[i] - (i === 0 ? live.generateCpuUs : 0)) / 1000 / opts.blocks)
    const sigChecks = sigAfter.map((a, i) => ({ checked: a.checked - sigBefore[i].checked, remembered: a.remembered - sigBefore[i].remembered }))
    progress(`replication live: CPU per block writer ${fmt(cpuPerBlock[0], 2)} ms, follower ${fmt(cpuPerBlock[1], 2)} ms; signature checks (full / remembered) writer ${sigChecks[0].checked}/${sigChecks[0].remembered}, follower ${sigChecks[1].checked}/${sigChecks[1].remembered}`)
    h1.off(); h2.off()
    const t1 = reachTimes(h1.events, first, last)
    const t2 = reachTimes(h2.events, first, last)
    const lag = stats(t2.map((t, i) => t - t1[i]))
    const liveSpanMs = t2[t2.length - 1] - t1[0]
    const liveHps = opts.blocks / liveSpanMs * 1000
    const p1Rate = opts.blocks / live.ms * 1000
    progress(`replication live: peer 1 stored ${fmt(p1Rate, 1)} blocks/s (${live.errors.length} errors); peer 2 received ${fmt(liveHps, 1)} heights/s; lag p50 ${fmt(lag.p50)} ms, p99 ${fmt(lag.p99)} ms, max ${fmt(lag.max)} ms`)

    // ------------------------------------------------ 2. late joiner
    progress(`replication: starting peer 3 (late joiner, knows peer 1) to sync ${fmt(last + 1)} blocks`)
    const lateStart = Date.now()
    const p3 = await startPeer('peer-3', { peers: [addr1] })
    const lateReady = Date.now()
    let foldDone = NaN
    let polling = true
    const poll = (async () => {
      while (polling) {
        const s = await p3.call('stats').catch(() => null)
        if (s != null && s.announcementsApplied >= last + 1) { foldDone = Date.now(); return }
        await new Promise(r => setTimeout(r, 50))
      }
    })()
    const lateReached = await p3.waitForHeight(last, 300_000)
    polling = false
    await poll
    const late3Stats = await p3.call('stats')
    const lateMs = lateReached.t - lateStart
    const lateFromReadyMs = lateReached.t - lateReady
    const lateBps = (last + 1) / lateMs * 1000
    const lateReadyBps = (last + 1) / lateFromReadyMs * 1000
    // from the joiner's replication start (libp2p up, peers not yet dialled): includes the log prefetch
    const foldBps = Number.isFinite(foldDone) ? late3Stats.announcementsApplied / (foldDone - late3Stats.startedAt) * 1000 : NaN
    progress(`replication late joiner: ${fmt(last + 1)} blocks in ${fmt(lateMs)} ms from process start (${fmt(lateFromReadyMs)} ms from ready): ${fmt(lateBps)} / ${fmt(lateReadyBps)} blocks/s; chain log folded at ${fmt(foldBps)} announcements/s`)

    // ------------------------------------------------ 4. propagation, unthrottled
    const info3 = await p3.call('info')
    if (info3.peerId !== replicas[1]) throw new Error(`replication: peer 3 has id ${String(info3.peerId)}, expected ${replicas[1]}`)
    await p3.call('dial', { addr: info2.addresses[0] })
    for (const p of peers) await p.call('idle')
    const pFirst = last + 1
    const pLast = last + opts.propagationBlocks
    progress(`replication: peer 1 stores ${fmt(opts.propagationBlocks)} blocks as fast as it can (${opts.propagationBatch} per call); peers 2 and 3 follow`)
    const g1 = recordHeads(p1)
    const g2 = recordHeads(p2)
    const g3 = recordHeads(p3)
    const propFloor = await importCost(join(dir, 'import-cost-prop'), txs, opts.propagationBatch)
    progress(`replication: same-run floor, ${opts.propagationBatch} blocks per call: ${fmt(propFloor, 2)} ms CPU per block`)
    const propCpuBefore = await Promise.all([p1, p2, p3].map(async p => await p.call('cpu') as number))
    const propSigBefore = await Promise.all([p1, p2, p3].map(async p => (await p.call('stats')).signatures as { checked: number, remembered: number }))
    const propCalled = Date.now()
    const prop = await p1.call('ingest', { count: opts.propagationBlocks, seed: SEED, txs, batch: opts.propagationBatch })
    // the clock starts at peer 1's first store: the call first generates the test chain (~1.5 ms of CPU per
    // block), which no follower can receive; until 2026-12-06 the figure included it (detail.fromCallMs)
    const propStart: number = prop.startedAt
    await Promise.all([p2, p3].map(async p => await p.waitForHeight(pLast, 300_000)))
    for (const p of [p1, p2, p3]) await p.call('idle')
    // CPU per block of each process over the unthrottled run (writer, and both followers)
    const propCpu = (await Promise.all([p1, p2, p3].map(async p => await p.call('cpu') as number))).map((c, i) => (c - propCpuBefore[i] - (i === 0 ? prop.generateCpuUs : 0)) / 1000 / opts.propagationBlocks)
    const propSig = (await Promise.all([p1, p2, p3].map(async p => (await p.call('stats')).signatures as { checked: number, remembered: number })))
      .map((a, i) => ({ checked: a.checked - propSigBefore[i].checked, remembered: a.remembered - propSigBefore[i].remembered }))
    progress(`replication propagation: CPU per block writer ${fmt(propCpu[0], 2)} ms, peer 2 ${fmt(propCpu[1], 2)} ms, peer 3 ${fmt(propCpu[2], 2)} ms; signature checks (full / remembered) ${propSig.map(s => `${s.checked}/${s.remembered}`).join(', ')}`)
    g1.off(); g2.off(); g3.off()
    const s1 = reachTimes(g1.events, pFirst, pLast)
    const s2 = reachTimes(g2.events, pFirst, pLast)
    const s3 = reachTimes(g3.events, pFirst, pLast)
    const both = s2.map((t, i) => Math.max(t, s3[i]))
    const delay = stats(both.map((t, i) => t - s1[i]))
    const propMs = both[both.length - 1] - propStart
    const propFromCallMs = both[both.length - 1] - propCalled
    const propBps = opts.propagationBlocks / propMs * 1000
    const p1PropRate = opts.propagationBlocks / prop.ms * 1000
    progress(`replication propagation: peer 1 stored ${fmt(p1PropRate)} blocks/s; on peers 2 and 3 at ${fmt(propBps)} blocks/s; delay p50 ${fmt(delay.p50)} ms, p99 ${fmt(delay.p99)} ms`)

    // ------------------------------------------------ 4b. plain bitswap baseline
    const m = Math.min(opts.bitswapBlocks, pLast + 1)
    const cids: string[] = await p1.call('canonical', { from: 0, to: m - 1 })
    progress(`replication: plain bitswap (separate process, light Helia) fetches ${fmt(m)} blocks from peer 1, header then each page, one get at a time`)
    const bs = await startChild('bitswap', 'bitswap', { peer: addr1 })
    const bsRes = await bs.child.call('fetch', { cids })
    await bs.child.stop()
    const bsBps = bsRes.blocks / bsRes.ms * 1000
    const bsPer = stats(bsRes.perBlockMs)
    progress(`replication bitswap: ${fmt(bsRes.blocks)} blocks (${fmt(bsRes.objects)} IPLD blocks, ${fmt(bsRes.bytes / 2 ** 20, 1)} MiB) in ${fmt(bsRes.ms)} ms: ${fmt(bsBps, 1)} blocks/s, p50 ${fmt(bsPer.p50, 1)} ms per block`)

    // ------------------------------------------------ 5. write latency
    for (const p of peers) await p.call('idle')
    progress(`replication: ${fmt(opts.writes)} single-block storeBlocks calls with consistency 'one', then 'quorum' (replicas: peers 2 and 3)`)
    const one = await p1.call('ingest', { count: opts.writes, seed: SEED, txs, batch: 1, consistency: 'one' })
    for (const p of peers) await p.call('idle')
    const quorum = await p1.call('ingest', { count: opts.writes, seed: SEED, txs, batch: 1, consistency: 'quorum' })
    const oneLat = stats(one.latencies)
    const quorumLat = stats(quorum.latencies)
    progress(`replication writes: 'one' p50 ${fmt(oneLat.p50, 2)} ms p99 ${fmt(oneLat.p99, 2)} ms; 'quorum' p50 ${fmt(quorumLat.p50, 2)} ms p99 ${fmt(quorumLat.p99, 2)} ms (${quorum.errors.length} errors)`)
    const finalStats = await Promise.all(peers.map(async p => await p.call('stats')))

    progress('replication: stopping the peers')
    await Promise.all(peers.map(async p => await p.stop()))

    // ------------------------------------------------ 3. vanilla OrbitDB baseline
    progress(`replication: vanilla OrbitDB keyvalue, ${fmt(opts.orbitTxs)} entries (one per tx), writer and live reader in separate processes`)
    const w = await startChild('orbit-writer', 'orbit-writer')
    const joined = new Promise<boolean>(resolve => {
      w.child.events.once('join', () => resolve(true))
      setTimeout(() => resolve(false), 15_000)
    })
    const r = await startChild('orbit-reader', 'orbit-reader', { peer: w.ready.peer, address: w.ready.address })
    if (!await joined) progress('replication: the OrbitDB reader did not report a join within 15 s; writing anyway')
    const orbitStart = Date.now()
    const [written, received] = await Promise.all([
      w.child.call('write', { count: opts.orbitTxs }),
      r.child.call('wait', { count: opts.orbitTxs, timeoutMs: 600_000 })
    ])
    const arrivalOf = reachTimes(received.arrivals.map(([height, t]: [number, number]) => ({ height, t })), 1, opts.orbitTxs)
    const orbitLag = stats(arrivalOf.map((t, i) => t - written.times[i]))
    const orbitLiveMs = arrivalOf[arrivalOf.length - 1] - orbitStart
    const orbitLiveEps = opts.orbitTxs / orbitLiveMs * 1000
    const orbitWriteEps = opts.orbitTxs / written.ms * 1000
    progress(`replication OrbitDB live: writer ${fmt(orbitWriteEps)} puts/s; reader received ${fmt(orbitLiveEps)} entries/s (${fmt(orbitLiveEps / txs, 2)} heights/s); lag p50 ${fmt(orbitLag.p50)} ms, p99 ${fmt(orbitLag.p99)} ms`)
    await r.child.stop()
    progress(`replication: a late OrbitDB reader (new process) opens the database of ${fmt(opts.orbitTxs)} entries`)
    const orbitLateStart = Date.now()
    const lr = await startChild('orbit-reader', 'orbit-late-reader', { peer: w.ready.peer, address: w.ready.address })
    const orbitLateReady = Date.now()
    const lateReceived = await lr.child.call('wait', { count: opts.orbitTxs, timeoutMs: 600_000 })
    const lateDone = lateReceived.arrivals.find(([time]: [number, number]) => time >= opts.orbitTxs)[1] as number
    const orbitLateEps = opts.orbitTxs / (lateDone - orbitLateStart) * 1000
    const orbitLateReadyEps = opts.orbitTxs / Math.max(1, lateDone - orbitLateReady) * 1000
    progress(`replication OrbitDB late reader: ${fmt(orbitLateEps)} entries/s from process start (${fmt(orbitLateEps / txs, 2)} heights/s), ${fmt(orbitLateReadyEps)} from ready`)
    await lr.child.stop()
    await w.child.stop()

    // ------------------------------------------------ figures
    const orbitLive = { label: `vanilla OrbitDB, 1 entry per tx, live reader (entries/s ÷ ${txs})`, value: orbitLiveEps / txs }
    const orbitLate = { label: `vanilla OrbitDB late reader (entries/s ÷ ${txs})`, value: orbitLateEps / txs }
    const orbitLateReadyB = { label: `vanilla OrbitDB late reader from ready (÷ ${txs})`, value: orbitLateReadyEps / txs }
    const gLive = `replication: index to a live peer (${fmt(opts.blocks)} blocks × ${txs} txs, ${opts.ratePerSec} blocks/s, separate processes)`
    const gLate = `replication: late joiner syncs ${fmt(last + 1)} blocks × ${txs} txs from peer 1`
    const gOrbit = `replication baseline: vanilla OrbitDB keyvalue, ${fmt(opts.orbitTxs)} entries (one per tx)`
    const gProp = `replication: propagation of ${fmt(opts.propagationBlocks)} blocks × ${txs} txs to 2 peers (${opts.propagationBatch}/call, unthrottled)`
    const gWrite = `replication: write latency, ${fmt(opts.writes)} storeBlocks calls of 1 block, 3 peers`
    const liveFloorB = { label: 'same-run floor: the same chain rebuilt from bytes and imported, no network, 1 block/call (import-cost-child.ts)', value: liveFloor }
    const propFloorB = { label: `same-run floor: the same chain rebuilt from bytes and imported, no network, ${opts.propagationBatch} blocks/call`, value: propFloor }
    const lagBase = (v: number, what: string): { label: string, value: number } => ({ label: `vanilla OrbitDB live reader, ${what} entry lag`, value: v })
    const quorumErrors = quorum.errors.length
    return [
      figure({ id: 'replication.live.heightsPerSec', group: gLive, label: 'heights/s reaching peer 2', unit: 'heights/s', value: liveHps, better: 'higher', baseline: orbitLive, detail: { peer1BlocksPerSec: p1Rate, peer1Errors: live.errors.length, spanMs: liveSpanMs, note: `peer 1 is held to ${opts.ratePerSec} blocks/s, so this figure is capped there; the unthrottled figure is the propagation one` } }),
      figure({ id: 'replication.live.lagP50', group: gLive, label: '  lag p50 (peer 2 head − peer 1 head)', unit: 'ms', value: lag.p50, better: 'lower', baseline: lagBase(orbitLag.p50, 'p50'), detail: { ...lag } }),
      figure({ id: 'replication.live.lagP99', group: gLive, label: '  lag p99', unit: 'ms', value: lag.p99, better: 'lower', baseline: lagBase(orbitLag.p99, 'p99'), goal: { text: `lag < 1 s at ${opts.ratePerSec} blocks/s (p99; peer 1 must keep the rate)`, met: lag.p99 < 1000 && p1Rate >= opts.ratePerSec * 0.95 } }),
      figure({ id: 'replication.live.lagMax', group: gLive, label: '  lag max', unit: 'ms', value: lag.max, better: 'lower', baseline: lagBase(orbitLag.max, 'max'), goal: { text: `lag < 1 s at ${opts.ratePerSec} blocks/s (max; peer 1 must keep the rate)`, met: lag.max < 1000 && p1Rate >= opts.ratePerSec * 0.95 } }),
      figure({ id: 'replication.live.cpuPerBlock.writer', group: gLive, label: '  CPU per block, writer process (user + system, generating the test chain left out)', unit: 'ms', value: cpuPerBlock[0], better: 'lower', baseline: liveFloorB, detail: { signatureChecks: sigChecks[0], generateMsPerBlock: live.generateCpuUs / 1000 / opts.blocks } }),
      figure({ id: 'replication.live.cpuPerBlock.follower', group: gLive, label: '  CPU per block, follower process (user + system)', unit: 'ms', value: cpuPerBlock[1], better: 'lower', baseline: liveFloorB, detail: { signatureChecks: sigChecks[1] } }),
      figure({ id: 'replication.live.signatureChecks.follower', group: gLive, label: '  signature checks run in full by the follower (entries + identities)', unit: 'checks', value: sigChecks[1].checked, better: 'lower', detail: { remembered: sigChecks[1].remembered } }),
      figure({ id: 'replication.late.blocksPerSec', group: gLate, label: 'blocks/s indexed and fetched, from process start', unit: 'blocks/s', value: lateBps, better: 'higher', baseline: orbitLate, detail: { blocks: last + 1, ms: lateMs, fromReadyMs: lateFromReadyMs, startMs: lateReady - lateStart, stats: late3Stats, note: 'includes process start (Node, libp2p, OrbitDB open) and fetching every block (header and pages) over BLOCKS_PROTOCOL' } }),
      figure({ id: 'replication.late.blocksPerSecFromReady', group: gLate, label: '  same, from peer ready (store and replication up)', unit: 'blocks/s', value: lateReadyBps, better: 'higher', baseline: orbitLateReadyB }),
      figure({ id: 'replication.late.vsBitswap', group: gLate, label: '  block DAGs fetched, verified, indexed from a store (from ready)', unit: 'blocks/s', value: lateReadyBps, better: 'higher', baseline: { label: 'plain bitswap, header + pages, one get at a time (fetch only)', value: bsBps }, goal: { text: '≥ 10× plain one-at-a-time bitswap', met: lateReadyBps >= 10 * bsBps } }),
      figure({ id: 'replication.late.foldPerSec', group: gLate, label: '  index: chain log synced and folded (announcements/s from replication start)', unit: 'blocks/s', value: foldBps, better: 'higher', goal: { text: '≥ 1,000 blocks/s of index synced', met: foldBps >= 1000 }, detail: { announcementsApplied: late3Stats.announcementsApplied, foldDoneMs: foldDone - late3Stats.startedAt, note: 'stats polled every 50 ms over IPC' } }),
      figure({ id: 'replication.orbit.live.entriesPerSec', group: gOrbit, label: 'entries/s reaching a live reader', unit: 'entries/s', value: orbitLiveEps, better: 'higher', detail: { entries: opts.orbitTxs, ms: orbitLiveMs, writerPutsPerSec: orbitWriteEps, lag: orbitLag } }),
      figure({ id: 'replication.orbit.live.heightsPerSec', group: gOrbit, label: `  = heights/s (÷ ${txs} txs per block)`, unit: 'heights/s', value: orbitLiveEps / txs, better: 'higher' }),
      figure({ id: 'replication.orbit.live.lagP50', group: gOrbit, label: '  lag p50 per entry (reader − writer put)', unit: 'ms', value: orbitLag.p50, better: 'lower', detail: { ...orbitLag } }),
      figure({ id: 'replication.orbit.late.entriesPerSec', group: gOrbit, label: 'entries/s to a late reader, from process start', unit: 'entries/s', value: orbitLateEps, better: 'higher', detail: { fromReadyEntriesPerSec: orbitLateReadyEps, ms: lateDone - orbitLateStart, startMs: orbitLateReady - orbitLateStart } }),
      figure({ id: 'replication.propagation.blocksPerSec', group: gProp, label: 'blocks/s present (verified, pinned) on both peers', unit: 'blocks/s', value: propBps, better: 'higher', baseline: { label: 'plain bitswap, header + pages, one get at a time', value: bsBps }, goal: { text: '≥ 10× plain bitswap', met: propBps >= 10 * bsBps }, detail: { ms: propMs, fromCallMs: propFromCallMs, blocksPerSecFromCall: opts.propagationBlocks / propFromCallMs * 1000, peer1BlocksPerSec: p1PropRate, peer1Errors: prop.errors.length, bitswap: { ...bsRes, perBlockMs: bsPer } } }),
      figure({ id: 'replication.propagation.cpuPerBlock.writer', group: gProp, label: '  CPU per block, writer process (user + system, generating the test chain left out)', unit: 'ms', value: propCpu[0], better: 'lower', baseline: propFloorB, detail: { signatureChecks: propSig[0], generateMsPerBlock: prop.generateCpuUs / 1000 / opts.propagationBlocks } }),
      figure({ id: 'replication.propagation.cpuPerBlock.peer2', group: gProp, label: '  CPU per block, follower peer 2', unit: 'ms', value: propCpu[1], better: 'lower', baseline: propFloorB, detail: { signatureChecks: propSig[1] } }),
      figure({ id: 'replication.propagation.cpuPerBlock.peer3', group: gProp, label: '  CPU per block, follower peer 3', unit: 'ms', value: propCpu[2], better: 'lower', baseline: propFloorB, detail: { signatureChecks: propSig[2] } }),
      figure({ id: 'replication.propagation.delayP50', group: gProp, label: '  delay p50 (later of peers 2, 3 − peer 1 head)', unit: 'ms', value: delay.p50, better: 'lower', baseline: { label: 'plain bitswap, one block, p50', value: bsPer.p50 }, detail: { ...delay } }),
      figure({ id: 'replication.propagation.delayP99', group: gProp, label: '  delay p99', unit: 'ms', value: delay.p99, better: 'lower', baseline: { label: 'plain bitswap, one block, p99', value: bsPer.p99 } }),
      figure({ id: 'replication.write.one.p50', group: gWrite, label: "consistency 'one' p50", unit: 'ms', value: oneLat.p50, better: 'lower', detail: { ...oneLat, errors: one.errors.length } }),
      figure({ id: 'replication.write.one.p99', group: gWrite, label: "consistency 'one' p99", unit: 'ms', value: oneLat.p99, better: 'lower' }),
      figure({ id: 'replication.write.quorum.p50', group: gWrite, label: "consistency 'quorum' p50", unit: 'ms', value: quorumLat.p50, better: 'lower', baseline: { label: "'one'", value: oneLat.p50 }, detail: { ...quorumLat, errors: quorumErrors, firstError: quorum.errors[0], replicas, finalStats } }),
      figure({ id: 'replication.write.quorum.p99', group: gWrite, label: "consistency 'quorum' p99", unit: 'ms', value: quorumLat.p99, better: 'lower', baseline: { label: "'one'", value: oneLat.p99 } })
    ]
  } finally {
    await Promise.all([...peers.map(async p => await p.stop()), ...children.map(async c => await c.stop())])
    await rm(dir, { recursive: true, force: true })
  }
}
