/**
 * Partitions: three peers, each in its own Linux network namespace, joined by
 * veth pairs onto a bridge in a namespace of this test (10.77.x.0/24, names
 * unique per run, everything deleted afterwards, also on failure). Every
 * peer is a validator and writes unique validator keys and one conflicting
 * key; blocks come from one writer. Each round cuts (iptables DROP) or
 * degrades (tc netem loss and delay) links at random while they write; one
 * round kills a peer and restarts it after the heal. After each heal:
 * nothing acknowledged is lost, nothing unexpected appears, and every peer
 * has the same canonical chain, validator state and reputation; the time
 * from heal to agreement is reported (p50/p99).
 *
 *   PARTITION_ROUNDS  rounds (default 4)
 *   PARTITION_SEED    seed of the fault schedule (default random, printed)
 *   PARTITION_LOG     index of a peer (0-2) whose debug log goes to this
 *                     output; the rounds then also print what still differs
 *                     every 2 s until the peers agree
 *
 * Needs root, iproute2 and iptables; without them the test fails and says so.
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { PeerProcess } from '../../src/devnet/controller.ts'
import { identityIdFromSeed, peerIdFromSeed } from '../../src/replication/keys.ts'
import { rng } from '../../src/synthetic/chain.ts'
import type { ChainStoreConfigInput } from '../../src/index.ts'
import { tempDir } from '../helpers/store.ts'

const ROUNDS = Number(process.env.PARTITION_ROUNDS ?? 4)
const LOG_PEER = process.env.PARTITION_LOG
const SEED = Number(process.env.PARTITION_SEED ?? Math.floor(Math.random() * 0x7fffffff))
const RUN = randomBytes(2).toString('hex')
const SUBNET = `10.77.${(parseInt(RUN, 16) % 200) + 20}`
const NAMES = ['writer-1', 'writer-2', 'writer-3']
const WRITERS = NAMES.map(identityIdFromSeed)
const BRIDGE_NS = `csf-${RUN}-br`
const ns = (i: number): string => `csf-${RUN}-p${i}`
const ip = (i: number): string => `${SUBNET}.${i + 1}`
const veth = (i: number): string => `v${i}-${RUN}`

const created: string[] = []
let dirCleanup: (() => Promise<void>) | undefined
const running = new Map<number, PeerProcess>()

function sh (cmd: string, ...args: string[]): string {
  return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString()
}
function inNs (name: string, ...cmd: string[]): string { return sh('ip', 'netns', 'exec', name, ...cmd) }

function setUpNetwork (): void {
  if (process.getuid?.() !== 0) throw new Error('partition tests need root to create network namespaces (ip netns); run them as root as CI does')
  for (const tool of ['ip', 'iptables', 'tc']) {
    try { sh('which', tool) } catch { throw new Error(`${tool} is not installed: apt-get install iproute2 iptables (the partition tests cannot run without it)`) }
  }
  try {
    sh('ip', 'netns', 'add', BRIDGE_NS)
    created.push(BRIDGE_NS)
  } catch (err) {
    throw new Error(`network namespaces are not available here (ip netns add failed: ${(err as any).stderr?.toString().trim() ?? (err as Error).message}); the partition suite cannot run`)
  }
  inNs(BRIDGE_NS, 'ip', 'link', 'add', 'br0', 'type', 'bridge')
  inNs(BRIDGE_NS, 'ip', 'link', 'set', 'br0', 'up')
  for (let i = 0; i < NAMES.length; i++) {
    sh('ip', 'netns', 'add', ns(i))
    created.push(ns(i))
    sh('ip', 'link', 'add', veth(i), 'type', 'veth', 'peer', 'name', `e${i}-${RUN}`)
    sh('ip', 'link', 'set', veth(i), 'netns', ns(i))
    sh('ip', 'link', 'set', `e${i}-${RUN}`, 'netns', BRIDGE_NS)
    inNs(BRIDGE_NS, 'ip', 'link', 'set', `e${i}-${RUN}`, 'master', 'br0', 'up')
    inNs(ns(i), 'ip', 'addr', 'add', `${ip(i)}/24`, 'dev', veth(i))
    inNs(ns(i), 'ip', 'link', 'set', veth(i), 'up')
    inNs(ns(i), 'ip', 'link', 'set', 'lo', 'up')
  }
}

function tearDownNetwork (): void {
  for (const name of created.splice(0).reverse()) { try { sh('ip', 'netns', 'del', name) } catch {} }
  // veth ends left in the root namespace (a failure halfway through set-up)
  for (let i = 0; i < NAMES.length; i++) { try { sh('ip', 'link', 'del', `e${i}-${RUN}`) } catch {} }
}

afterAll(async () => {
  await Promise.all([...running.values()].map(async p => await p.stop(5_000).catch(() => p.kill())))
  running.clear()
  tearDownNetwork()
  await dirCleanup?.()
})

/** Cuts traffic between peers a and b both ways (rules in both namespaces). */
function cut (a: number, b: number): void {
  for (const [x, y] of [[a, b], [b, a]]) {
    inNs(ns(x), 'iptables', '-A', 'INPUT', '-s', ip(y), '-j', 'DROP')
    inNs(ns(x), 'iptables', '-A', 'OUTPUT', '-d', ip(y), '-j', 'DROP')
  }
}
/** 'netem', why it fell back to iptables random drops (a kernel without sch_netem), or that no round degraded links. */
let degradeWith = 'none this run'
function degrade (i: number, lossPct: number, delayMs: number): void {
  try {
    inNs(ns(i), 'tc', 'qdisc', 'add', 'dev', veth(i), 'root', 'netem', 'delay', `${delayMs}ms`, '10ms', 'loss', `${lossPct}%`)
    degradeWith = 'netem'
  } catch (err) {
    degradeWith = `iptables-statistic (tc netem unavailable: ${String((err as any).stderr ?? (err as Error).message).trim().slice(0, 60)})`
    for (const chain of ['INPUT', 'OUTPUT']) inNs(ns(i), 'iptables', '-A', chain, '-m', 'statistic', '--mode', 'random', '--probability', String(lossPct / 100), '-j', 'DROP')
  }
}
function heal (): void {
  for (let i = 0; i < NAMES.length; i++) {
    inNs(ns(i), 'iptables', '-F')
    try { inNs(ns(i), 'tc', 'qdisc', 'del', 'dev', veth(i), 'root') } catch {}
  }
}

describe('partitions between peers in their own network namespaces', () => {
  it(`no acknowledged write is lost and every peer converges after each heal (${ROUNDS} rounds)`, async () => {
    setUpNetwork()
    const { dir, cleanup } = await tempDir('chainstore-part-')
    dirCleanup = cleanup
    const peerIds = await Promise.all(NAMES.map(async n => await peerIdFromSeed(n)))
    const config = (i: number): ChainStoreConfigInput => ({
      dataDir: join(dir, NAMES[i]),
      logLevel: (String(i) === LOG_PEER ? 'debug' : 'silent') as any,
      network: {
        enabled: true,
        seed: NAMES[i],
        writers: WRITERS,
        listen: [`/ip4/${ip(i)}/tcp/4001`],
        peers: NAMES.map((_, j) => j).filter(j => j !== i).map(j => `/ip4/${ip(j)}/tcp/4001/p2p/${peerIds[j]}`),
        intervalMs: 500,
        fetchTimeoutMs: 3_000,
        quorumTimeoutMs: 3_000
      }
    })
    const start = async (i: number): Promise<PeerProcess> => {
      const p = await PeerProcess.start(config(i), { execPath: 'ip', execArgv: ['netns', 'exec', ns(i), process.execPath], stdio: String(i) === LOG_PEER ? 'inherit' : 'pipe' })
      running.set(i, p)
      return p
    }
    for (let i = 0; i < NAMES.length; i++) await start(i)
    const peer = (i: number): PeerProcess => running.get(i)!

    const random = rng(SEED)
    const acked = new Map<string, number[]>() // validator key → acknowledged stakes
    const ackedBlocks: string[] = []
    const converge: number[] = []
    const problems: string[] = []
    const faults: string[] = []
    const killRound = ROUNDS >= 2 ? 1 : -1

    let disagreement = ''
    const agreed = async (): Promise<boolean> => {
      const all = [0, 1, 2].map(peer)
      const heads = await Promise.all(all.map(async p => await p.call('head')))
      if (heads.some(h => h == null || h.cid !== heads[0].cid)) { disagreement = `heads ${heads.map(h => h?.height).join('/')}`; return false }
      const chains = await Promise.all(all.map(async p => (await p.call('canonical', { from: 0, to: heads[0].height })).join()))
      if (chains.some(c => c !== chains[0])) { disagreement = 'canonical chains differ'; return false }
      const vals = await Promise.all(all.map(async p => JSON.stringify(await p.call('validators'))))
      disagreement = `validators ${vals.map(v => (JSON.parse(v) as unknown[]).length).join('/')}`
      return vals.every(v => v === vals[0])
    }

    for (let round = 0; round < ROUNDS; round++) {
      // the fault of this round
      const r = random()
      const victim = Math.floor(random() * 3)
      if (r < 0.4) { for (let j = 0; j < 3; j++) if (j !== victim) cut(victim, j); faults.push(`isolate ${victim}`) } else if (r < 0.7) { const other = (victim + 1) % 3; cut(victim, other); faults.push(`cut ${victim}-${other}`) } else { degrade(victim, 20, 80); degrade((victim + 1) % 3, 5, 30); faults.push(`netem ${victim}`) }
      if (round === killRound) { peer(2).kill('SIGKILL'); await peer(2).exited; running.delete(2); faults.push('kill 2') }
      // writes during the fault: blocks from writer 0, validator keys from every live peer
      const res = await peer(0).call('ingest', { count: 3, txs: 5, seed: 77 })
      for (const b of res.stored) if (b.cid !== '') ackedBlocks.push(b.cid)
      await Promise.all([...running.keys()].map(async i => {
        for (const [key, stake] of [[`${NAMES[i]}-r${round}`, round], ['shared', round * 10 + i]] as Array<[string, number]>) {
          await peer(i).call('putValidator', { id: key, state: { stake: String(stake), status: 'active', lastSeen: round } })
          acked.set(key, [...(acked.get(key) ?? []), stake])
        }
      }))
      await new Promise(resolve => setTimeout(resolve, 1_000 + random() * 2_000))
      heal()
      if (round === killRound) await start(2)
      const healedAt = Date.now()
      let ok = false
      let lastPrint = 0
      while (Date.now() - healedAt < 90_000) { if (await agreed()) { ok = true; break } if (Date.now() - lastPrint > 2000) { lastPrint = Date.now(); if (LOG_PEER != null) console.log(`[partition] round ${round} +${Date.now() - healedAt} ms: ${disagreement}`) } await new Promise(resolve => setTimeout(resolve, 250)) }
      if (!ok) problems.push(`round ${round} (${faults[faults.length - 1]}): no agreement 90 s after the heal (${disagreement})`)
      else converge.push(Date.now() - healedAt)
    }

    // nothing lost, nothing unexpected, on every peer
    for (let i = 0; i < 3; i++) {
      for (const cid of ackedBlocks) if (!(await peer(i).call('hasBlock', { cid }))) problems.push(`peer ${i}: acknowledged block ${cid} missing`)
      const vals = new Map((await peer(i).call('validators') as Array<{ id: string, state: { stake: string } }>).map(v => [v.id, Number(v.state.stake)]))
      for (const [key, stakes] of acked) {
        const got = vals.get(key)
        if (got == null) problems.push(`peer ${i}: acknowledged validator key ${key} missing`)
        else if (!stakes.includes(got)) problems.push(`peer ${i}: ${key} holds ${got}, never written (acknowledged ${stakes.join(',')})`)
      }
      for (const key of vals.keys()) if (!acked.has(key)) problems.push(`peer ${i}: unexpected validator key ${key}`)
    }
    const head = await peer(0).call('head')
    const chain = await peer(0).call('canonical', { from: 0, to: head.height }) as string[]
    for (const cid of ackedBlocks) if (!chain.includes(cid)) problems.push(`acknowledged block ${cid} not on the canonical chain`)
    // reputation: the aggregates replicate and agree
    const repStart = Date.now()
    let repAgreed = false
    while (Date.now() - repStart < 60_000) {
      const reps = await Promise.all([0, 1, 2].map(async i => JSON.stringify(await peer(i).call('reputation'))))
      if (reps.every(x => x === reps[0])) { repAgreed = true; break }
      await new Promise(resolve => setTimeout(resolve, 500))
    }
    if (!repAgreed) problems.push('reputation did not agree within 60 s of the last heal')

    const sorted = [...converge].sort((a, b) => a - b)
    const pct = (p: number): number => sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]
    console.log(`[faults:partition] rounds=${ROUNDS} faults=[${faults.join('; ')}] acknowledged blocks=${ackedBlocks.length} validatorPuts=${[...acked.values()].reduce((n, s) => n + s.length, 0)} lost=${problems.filter(p => p.includes('missing')).length} unexpected=${problems.filter(p => p.includes('unexpected') || p.includes('never written')).length} converge p50=${pct(0.5)}ms p99=${pct(0.99)}ms max=${sorted[sorted.length - 1]}ms perRound=[${converge.join(',')}]ms reputationAgreedIn=${repAgreed ? Date.now() - repStart : 'never'}ms seed=${SEED} net=${SUBNET}.0/24 degrade=${degradeWith}`)
    expect(problems.slice(0, 20)).toEqual([])
    const died = [...running.values()].filter(p => p.crashed != null).map(p => p.crashed)
    expect(died).toEqual([])
  }, 20 * 60_000)
})
