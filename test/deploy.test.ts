/**
 * docs/DEPLOY.md as written: hosts A (writer), B and C (replicas), then D,
 * which knows only B's address. Each "host" is a Linux network namespace
 * with its own address on a bridge in a namespace of this test (10.78.x.0/24,
 * names unique per run, everything deleted afterwards, also on failure);
 * the test process reaches the nodes' APIs through one more veth on the
 * bridge, as the guide's monitoring host does. Every node is a separate
 * `chainstore` process started with `ip netns exec`, its home in a temp dir
 * (CHAINSTORE_PATH) configured ONLY by the guide's commands: `chainstore
 * init`, `chainstore config set` and `chainstore --json id` for the ids. No
 * network.seed, no config written by hand.
 *
 * Checks: A, B and C reach A's head with /readyz 200, and `chainstore status`
 * and `chainstore peers` (run as the guide says, in B's namespace) show it;
 * D joins through B alone and reaches the same head; A stopped with SIGTERM
 * (the unit's stop) exits 0, and the blocks it stores after a restart reach
 * D through B.
 *
 * Needs root and iproute2 (ip netns); without them the test fails and says so.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { tempDir } from './helpers/store.ts'

const MAIN = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url))
const RUN = randomBytes(2).toString('hex')
const NAMES = ['A', 'B', 'C', 'D']
const BRIDGE_NS = `csd-${RUN}-br`
const ns = (i: number): string => `csd-${RUN}-${NAMES[i]}`
const veth = (i: number): string => `d${i}-${RUN}`
const bridgeEnd = (i: number): string => `b${i}-${RUN}`
/** The test's own end on the bridge (the monitoring host), in the root namespace. */
const MONITOR = `dm-${RUN}`
const P2P_PORT = 4001
const API_PORT = 7077
const DEMO_BLOCKS = 30
const MORE_BLOCKS = 45

let subnet = ''
const ip = (i: number): string => `${subnet}.${i + 1}`
const created: string[] = []
const links: string[] = []
const procs = new Map<string, Node>()
let dirCleanup: (() => Promise<void>) | undefined

function sh (cmd: string, ...args: string[]): string {
  return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString()
}
function inNs (name: string, ...cmd: string[]): string { return sh('ip', 'netns', 'exec', name, ...cmd) }

function setUpNetwork (): void {
  if (process.getuid?.() !== 0) throw new Error('test/deploy.test.ts needs root to create network namespaces (ip netns); run it as root as CI does')
  try { sh('ip', '-V') } catch { throw new Error('ip (iproute2) is not installed or not on PATH (/usr/sbin): apt-get install iproute2; the deploy test cannot run without it') }
  // a /24 no interface or route of this host uses already
  const used = sh('ip', '-4', 'addr') + sh('ip', '-4', 'route')
  const base = parseInt(RUN, 16) % 200
  for (let k = 0; k < 200 && subnet === ''; k++) {
    const candidate = `10.78.${((base + k) % 200) + 20}`
    if (!used.includes(`${candidate}.`)) subnet = candidate
  }
  if (subnet === '') throw new Error('no free 10.78.x.0/24 for the deploy test')
  try {
    sh('ip', 'netns', 'add', BRIDGE_NS)
    created.push(BRIDGE_NS)
  } catch (err) {
    throw new Error(`network namespaces are not available here (ip netns add failed: ${(err as any).stderr?.toString().trim() ?? (err as Error).message}); the deploy test cannot run`)
  }
  inNs(BRIDGE_NS, 'ip', 'link', 'add', 'br0', 'type', 'bridge')
  inNs(BRIDGE_NS, 'ip', 'link', 'set', 'br0', 'up')
  for (let i = 0; i < NAMES.length; i++) {
    sh('ip', 'netns', 'add', ns(i))
    created.push(ns(i))
    sh('ip', 'link', 'add', veth(i), 'type', 'veth', 'peer', 'name', bridgeEnd(i))
    links.push(bridgeEnd(i))
    sh('ip', 'link', 'set', veth(i), 'netns', ns(i))
    sh('ip', 'link', 'set', bridgeEnd(i), 'netns', BRIDGE_NS)
    inNs(BRIDGE_NS, 'ip', 'link', 'set', bridgeEnd(i), 'master', 'br0', 'up')
    inNs(ns(i), 'ip', 'addr', 'add', `${ip(i)}/24`, 'dev', veth(i))
    inNs(ns(i), 'ip', 'link', 'set', veth(i), 'up')
    inNs(ns(i), 'ip', 'link', 'set', 'lo', 'up')
  }
  sh('ip', 'link', 'add', MONITOR, 'type', 'veth', 'peer', 'name', `bm-${RUN}`)
  links.push(MONITOR, `bm-${RUN}`)
  sh('ip', 'link', 'set', `bm-${RUN}`, 'netns', BRIDGE_NS)
  inNs(BRIDGE_NS, 'ip', 'link', 'set', `bm-${RUN}`, 'master', 'br0', 'up')
  sh('ip', 'addr', 'add', `${subnet}.254/24`, 'dev', MONITOR)
  sh('ip', 'link', 'set', MONITOR, 'up')
}

function tearDownNetwork (): void {
  for (const name of created.splice(0).reverse()) { try { sh('ip', 'netns', 'del', name) } catch {} }
  // veth ends left in the root namespace (the monitor's, or a failure halfway through set-up)
  for (const link of links.splice(0)) { try { sh('ip', 'link', 'del', link) } catch {} }
}

/** A `chainstore … start` process in a namespace. */
interface Node { child: ChildProcess, out: () => string, exit: Promise<number | null>, exited: boolean }

afterAll(async () => {
  await Promise.all([...procs.values()].map(async p => {
    if (p.exited) return
    p.child.kill('SIGTERM')
    const done = await Promise.race([p.exit.then(() => true), new Promise(resolve => setTimeout(resolve, 10_000, false))])
    if (done !== true) { p.child.kill('SIGKILL'); await p.exit }
  }))
  procs.clear()
  tearDownNetwork()
  await dirCleanup?.()
}, 60_000)

let homes: string[] = []
let compileCache = ''
/** The environment of a command on host i: its home, and no CHAINSTORE_* of the caller's. */
function envOf (i: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CHAINSTORE_')) env[k] = v
  // Node's compile cache (in the test's temp dir): each command imports the whole CLI, and ~30 of them run
  return { ...env, CHAINSTORE_PATH: homes[i], NODE_COMPILE_CACHE: compileCache }
}

/** `chainstore <args>` on host i, as an operator runs it there; its stdout. */
async function cs (i: number, ...args: string[]): Promise<string> {
  return await new Promise((resolve, reject) => {
    execFile('ip', ['netns', 'exec', ns(i), process.execPath, MAIN, ...args], { env: envOf(i), timeout: 60_000 }, (err, stdout, stderr) => {
      if (err != null) reject(new Error(`host ${NAMES[i]}: chainstore ${args.join(' ')} failed (${(err as any).code ?? err.message}): ${stderr.trim().slice(-800)}`))
      else resolve(stdout)
    })
  })
}

/** `chainstore start <args>` on host i, in the background. */
function start (i: number, ...args: string[]): Node {
  const child = spawn('ip', ['netns', 'exec', ns(i), process.execPath, MAIN, 'start', ...args], { env: envOf(i), stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  const keep = (d: Buffer): void => { out = (out + d.toString()).slice(-6000) }
  child.stdout!.on('data', keep)
  child.stderr!.on('data', keep)
  const node: Node = { child, out: () => out, exit: new Promise(resolve => child.once('exit', code => { node.exited = true; resolve(code) })), exited: false }
  procs.set(NAMES[i], node)
  return node
}

/** GET on host i's API from the test (the monitoring host): status code and JSON body, or undefined while it does not answer. */
async function api (i: number, path: string): Promise<{ status: number, body: any } | undefined> {
  try {
    const res = await fetch(`http://${ip(i)}:${API_PORT}${path}`, { signal: AbortSignal.timeout(2_000) })
    return { status: res.status, body: await res.json() }
  } catch { return undefined }
}

/** Polls until `check` holds; fails naming `what`, the last state seen and the tail of every node's output. */
async function until (what: string, ms: number, check: () => Promise<string | true>): Promise<void> {
  const end = Date.now() + ms
  let last = ''
  while (Date.now() < end) {
    for (const [name, p] of procs) if (p.exited && p.child.exitCode !== 0 && name !== 'A-stopped') throw new Error(`host ${name}'s node died (exit ${p.child.exitCode}) while waiting for ${what}:\n${p.out()}`)
    const r = await check()
    if (r === true) return
    last = r
    await new Promise(resolve => setTimeout(resolve, 300))
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what} (${last})\n${[...procs].map(([n, p]) => `--- ${n}:\n${p.out().slice(-1500)}`).join('\n')}`)
}

/** Hosts whose head is not `cid` (with /readyz 200): '' when all are there. */
async function behind (hosts: number[], cid: string): Promise<string> {
  const states = await Promise.all(hosts.map(async i => {
    const [status, ready] = await Promise.all([api(i, '/status'), api(i, '/readyz')])
    const head = status?.body?.head
    return head?.cid === cid && ready?.status === 200 ? '' : `${NAMES[i]}: head ${head?.height ?? '-'}, readyz ${ready?.status ?? '-'} ${JSON.stringify(ready?.body?.reasons ?? [])}`
  }))
  return states.filter(Boolean).join('; ')
}

describe('docs/DEPLOY.md, step by step, on hosts in their own network namespaces', () => {
  it('three nodes converge on the writer\'s head; a fourth knowing only a replica joins; a restarted writer\'s new blocks reach it', async () => {
    const t0 = Date.now()
    setUpNetwork()
    const { dir, cleanup } = await tempDir('chainstore-deploy-')
    dirCleanup = cleanup
    homes = NAMES.map(n => join(dir, `host-${n}`))
    compileCache = join(dir, 'node-compile-cache')
    const [A, B, C, D] = [0, 1, 2, 3]

    type Ids = { peerId: string, identity: string, addresses: string[] }
    const ids: Ids[] = []
    const dialMe = (i: number): string => ids[i].addresses[0]
    /** Steps 3-5 on host i: init, the addresses, then the ids (`dial me as` printed for the configured listen/announce). */
    const setUp = async (i: number): Promise<void> => {
      await cs(i, 'init')
      await cs(i, 'config', 'set', 'network.enabled', 'true')
      await cs(i, 'config', 'set', 'network.listen', `["/ip4/0.0.0.0/tcp/${P2P_PORT}"]`)
      await cs(i, 'config', 'set', 'api.host', ip(i))
      // C hands out one address of its own choosing (the guide's announce for a host with several interfaces)
      if (i === C) await cs(i, 'config', 'set', 'network.announce', `["/ip4/${ip(i)}/tcp/${P2P_PORT}"]`)
      ids[i] = JSON.parse(await cs(i, '--json', 'id')) as Ids
      expect(ids[i].identity, `host ${NAMES[i]}`).toMatch(/^[0-9a-f]{66}$/)
      // `dial me as` is the address the guide tells the other hosts to list
      expect(ids[i].addresses, `host ${NAMES[i]}: chainstore id's "dial me as"`).toEqual([`/ip4/${ip(i)}/tcp/${P2P_PORT}/p2p/${ids[i].peerId}`])
    }
    /** Step 6 on host i: the writers list (A's identity) on every node; B and C list A and each other, D lists B alone. */
    const peers: Record<number, number[]> = { [B]: [A, C], [C]: [A, B], [D]: [B] }
    const whoWritesWhomToDial = async (i: number): Promise<void> => {
      await cs(i, 'config', 'set', 'network.writers', JSON.stringify([ids[A].identity]))
      if (peers[i] != null) await cs(i, 'config', 'set', 'network.peers', JSON.stringify(peers[i].map(dialMe)))
      const file = JSON.parse(await readFile(join(homes[i], 'config.json'), 'utf8'))
      expect(file.network.seed, `host ${NAMES[i]} runs without network.seed`).toBeUndefined()
      expect(file.network.writers).toEqual([ids[A].identity])
      expect(file.network.peers).toEqual((peers[i] ?? []).map(dialMe))
    }
    await Promise.all([A, B, C].map(setUp))
    await Promise.all([A, B, C].map(whoWritesWhomToDial))
    const setupSeconds = (Date.now() - t0) / 1000

    // step 8: A stores a synthetic chain and serves; B and C start
    start(A, '--demo', '--blocks', String(DEMO_BLOCKS))
    start(B)
    start(C)
    // D is set up while they run (it joins later: step 10)
    const dSetUp = (async () => { await setUp(D); await whoWritesWhomToDial(D) })()
    dSetUp.catch(() => {})
    let head = ''
    await until(`A to store its ${DEMO_BLOCKS} demo blocks and serve`, 60_000, async () => {
      const s = await api(A, '/status')
      if (s?.body?.head?.height !== DEMO_BLOCKS - 1) return `A at ${s?.body?.head?.height ?? '-'}`
      head = s.body.head.cid
      return true
    })
    await until('A, B and C on A\'s head, /readyz 200', 60_000, async () => await behind([A, B, C], head) || true)
    const convergedSeconds = (Date.now() - t0) / 1000

    // step 9: the CLI's checks on B, as the guide runs them there (once B has dialled both peers it lists)
    await until('B connected to A and C', 30_000, async () => {
      const list = ((await api(B, '/peers'))?.body ?? []) as Array<{ peerId: string }>
      return [ids[A].peerId, ids[C].peerId].every(id => list.some(p => p.peerId === id)) || `B's peers: ${list.map(p => p.peerId.slice(-6)).join(', ')}`
    })
    const status = JSON.parse(await cs(B, '--json', 'status'))
    expect(status.head).toMatchObject({ height: DEMO_BLOCKS - 1, cid: head })
    const listed = JSON.parse(await cs(B, '--json', 'peers')).peers as Array<{ peerId: string, head?: { height: number } }>
    expect(listed.map(p => p.peerId).sort()).toEqual([ids[A].peerId, ids[C].peerId].sort())

    // step 10: D knows only B's address
    await dSetUp
    start(D)
    await until('D (bootstrapped from B alone) on A\'s head, /readyz 200', 60_000, async () => await behind([D], head) || true)
    const dPeers = (await api(D, '/peers'))!.body as Array<{ peerId: string }>
    expect(dPeers.map(p => p.peerId)).toContain(ids[B].peerId)
    const joinedSeconds = (Date.now() - t0) / 1000

    // the unit's stop: SIGTERM, exit 0; A restarted stores more blocks, and D (which knows only B) gets them
    const first = procs.get('A')!
    first.child.kill('SIGTERM')
    expect(await first.exit, `A's exit code on SIGTERM:\n${first.out()}`).toBe(0)
    procs.delete('A')
    procs.set('A-stopped', first)
    start(A, '--demo', '--blocks', String(MORE_BLOCKS))
    await until(`A to store blocks up to ${MORE_BLOCKS - 1} after its restart`, 60_000, async () => {
      const s = await api(A, '/status')
      if (s?.body?.head?.height !== MORE_BLOCKS - 1) return `A at ${s?.body?.head?.height ?? '-'}`
      head = s.body.head.cid
      return true
    })
    await until('A, B, C and D on A\'s new head, /readyz 200', 60_000, async () => await behind([A, B, C, D], head) || true)

    console.log(`[deploy] net=${subnet}.0/24 setup of A, B, C (init, config set, id)=${setupSeconds.toFixed(1)}s A+B+C converged=${convergedSeconds.toFixed(1)}s D joined=${joinedSeconds.toFixed(1)}s (D's peers: ${dPeers.length}) all on the restarted writer's head=${((Date.now() - t0) / 1000).toFixed(1)}s`)
  }, 150_000)
})
