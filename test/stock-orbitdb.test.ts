import { fork, type ChildProcess } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { execFile } from 'node:child_process'
import { afterEach, describe, expect, it } from 'vitest'
import { createChainStore, identityIdFromSeed, type ChainStore, type ChainStoreConfigInput } from '../src/index.ts'
import { chainstoreAddresses } from '../src/replication/orbitdb-access.ts'
import { SyntheticChain } from '../src/synthetic/chain.ts'
import { quietLogger, tempDir } from './helpers/store.ts'
import { until } from './helpers/wait.ts'

// A chainstore node and, in a child process that loads no chainstore code
// but the access controller (`chainstore/orbitdb-access`), a stock OrbitDB 4
// app following it read-only; everything on 127.0.0.1. The app imports the
// controller by the package's name: resolved to src/ through
// scripts/source-exports.mjs, or with STOCK_PEER_DIST=1 to the build in
// dist/ through package.json `exports` (run `npm run build` first).

const execFileP = promisify(execFile)
const CHILD = join(import.meta.dirname, 'helpers', 'stock-orbitdb-peer.mjs')
const SOURCE_EXPORTS = join(import.meta.dirname, '..', 'scripts', 'source-exports.mjs')
const FROM_DIST = process.env.STOCK_PEER_DIST === '1'

/** The stock OrbitDB app, driven over IPC. */
class StockPeer {
  readonly #pending = new Map<number, { resolve: (v: any) => void, reject: (e: Error) => void }>()
  #next = 0
  readonly child: ChildProcess
  /** What the app printed to stderr (OrbitDB prints a head it failed to join there, and nothing else). */
  readonly stderr: () => string
  constructor (child: ChildProcess, stderr: () => string) {
    this.child = child
    this.stderr = stderr
    child.on('message', (msg: any) => {
      const p = this.#pending.get(msg.id)
      if (p == null) return
      this.#pending.delete(msg.id)
      if (msg.ok === true) p.resolve(msg.result)
      else p.reject(new Error(`stock peer: ${String(msg.error?.name)}: ${String(msg.error?.message)}`))
    })
    child.once('exit', code => { for (const p of this.#pending.values()) p.reject(new Error(`stock peer exited (${String(code)})`)) })
  }

  static async start (dir: string): Promise<StockPeer> {
    const child = fork(CHILD, [JSON.stringify({ dir })], { execArgv: FROM_DIST ? [] : ['--import', SOURCE_EXPORTS], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] })
    let stderr = ''
    child.stderr!.on('data', d => { stderr += String(d) })
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => { resolve() })
      child.once('exit', code => { reject(new Error(`stock peer exited during start (${String(code)}): ${stderr}`)) })
    })
    return new StockPeer(child, () => stderr)
  }

  async call<T = any> (op: string, args: unknown = {}): Promise<T> {
    const id = this.#next++
    return await new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject })
      this.child.send({ id, op, args })
    })
  }

  async stop (): Promise<void> {
    if (this.child.exitCode != null || this.child.signalCode != null) return
    const exited = new Promise(resolve => this.child.once('exit', resolve))
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000)
    await this.call('stop').catch(() => {})
    await exited
    clearTimeout(timer)
  }
}

const SEEDS = ['stock-a', 'stock-b']
const WRITERS = SEEDS.map(identityIdFromSeed)
const state = (stake: string) => ({ stake, status: 'active' as const, lastSeen: 1_700_000_000_000 })

let cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanups.reverse()) await c()
  cleanups = []
})

describe('a stock OrbitDB app follows a chainstore network (read-only)', () => {
  it('opens the chain, validators and reputation addresses, replicates them (a log with two heads included), and its own writes are refused', async () => {
    const { dir, cleanup } = await tempDir('chainstore-stock-')
    cleanups.push(cleanup)
    const config = (seed: string): ChainStoreConfigInput => ({ dataDir: join(dir, seed), network: { enabled: true, seed, writers: WRITERS, intervalMs: 300 } })
    const open = async (seed: string): Promise<ChainStore> => {
      const s = await createChainStore(config(seed), { logger: quietLogger })
      cleanups.push(async () => { await s.stop() })
      return s
    }
    const a = await open('stock-a')
    const b = await open('stock-b')
    const chain = new SyntheticChain({ txsPerBlock: [2, 5], addresses: 20 })
    await a.storeBlocks(chain.take(20, a.config.limits))
    // two writers apart: A's and B's validator entries are concurrent, so once
    // joined the validators log has two heads (the stock peer must get both)
    await a.replication!.putValidator('val-a', state('100'))
    await b.replication!.putValidator('val-b', state('200'))
    await b.replication!.dial(a.replication!.addresses()[0])
    await until(async () => (await a.replication!.validators()).length === 2, 30_000, 'A to join B\'s validator entry')
    await a.replication!.flushAnnouncements()

    // where a follower finds the databases: status (and the API, the CLI), or computed offline from name and writers
    const databases = (await a.status()).network!.databases
    expect(databases).toEqual(a.replication!.addressesOfDatabases())
    expect(await chainstoreAddresses({ name: a.config.network.name, writers: WRITERS })).toEqual(databases)
    const validatorsDb = await a.replication!.orbitdb.open(databases.validators)
    const aValidatorHeads = (await validatorsDb.log.heads()).map((e: any) => e.hash).sort()
    expect(aValidatorHeads).toHaveLength(2)

    const stock = await StockPeer.start(join(dir, 'stock'))
    cleanups.push(async () => { await stock.stop() })
    // connected to both chainstore nodes, as a follower should be (STACK-NOTES pitfall 10): a
    // writer's identity block is fetched over bitswap, and a want that one peer leaves
    // unanswered stalls that head's join for OrbitDB's 30 s (docs/PITFALLS.md)
    const me = await stock.call('open', { peers: [a.replication!.addresses()[0], b.replication!.addresses()[0]], addresses: databases })
    expect(me.identity).not.toBe('')

    const head = (s: ChainStore) => ({ height: s.head()!.height, cid: s.head()!.cid.toString() })
    /** The tip of the stock peer's chain log: the highest announcement in its entries. */
    const tipOf = (entries: Array<{ payload: any }>): { height: number, cid: string } | null => {
      const all = entries.flatMap(e => e.payload?.value?.blocks ?? [])
      return all.length === 0 ? null : all.reduce((best: any, x: any) => x.height > best.height ? x : best)
    }
    /** What the stock peer holds, for a failure message. */
    const summary = async (): Promise<string> => {
      const st = await stock.call('state')
      return JSON.stringify({ tip: tipOf(st.chain.entries), head: head(a), entries: Object.fromEntries(['chain', 'validators', 'reputation'].map(n => [n, [st[n].entries.length, st[n].heads.length]])), syncErrors: st.syncErrors, joins: st.joins, rejections: st.rejections, stderr: stock.stderr().slice(-2000) })
    }
    const caughtUp = async (): Promise<boolean> => {
      const s = await stock.call('state')
      const tip = tipOf(s.chain.entries)
      return tip != null && tip.height === head(a).height && tip.cid === head(a).cid && Object.keys(s.validators.all).length === (await a.replication!.validators()).length
    }
    await until(caughtUp, 30_000, 'the stock peer to replicate the chain index and validators').catch(async err => { throw new Error(`${(err as Error).message}: ${await summary()}`) })
    let s = await stock.call('state')
    // both heads of the validators log reached it (each alone on a stream of the stock protocol), and nothing failed to decode
    expect([...s.validators.heads].sort()).toEqual(aValidatorHeads)
    expect(s.syncErrors).toEqual([])
    const fromAll = (all: Array<{ key: string, value: unknown }>) => Object.fromEntries(all.map(({ key, value }) => [key, value]))
    expect(fromAll(s.validators.all)).toEqual(Object.fromEntries((await a.replication!.validators()).map(v => [v.id, v.state])))

    // live: new blocks, a validator update and reputation observations reach it without a new head exchange
    await a.storeBlocks(chain.take(5, a.config.limits))
    await a.replication!.putValidator('val-a', state('150'))
    await a.replication!.reputation.flush()
    await a.replication!.flushAnnouncements()
    await until(async () => await caughtUp() && (await stock.call('state')).validators.all.find((x: any) => x.key === 'val-a')?.value.stake === '150', 30_000, 'the stock peer to follow live writes')
    s = await stock.call('state')
    expect(tipOf(s.chain.entries)).toMatchObject(head(a))
    const aChainDb = await a.replication!.orbitdb.open(databases.chain)
    expect((await aChainDb.log.heads()).map((e: any) => e.hash)).toEqual(s.chain.heads)
    expect(s.syncErrors).toEqual([])

    // read-only: every append of the stock peer's own identity is refused by the access controller, and none reaches A
    const refused = await stock.call('write')
    for (const name of ['chain', 'validators', 'reputation']) expect(refused[name], name).toMatch(/Could not append entry/)
    s = await stock.call('state')
    expect(s.rejections.map((r: any) => r.reason)).toEqual(['read-only', 'read-only', 'read-only'])
    expect(s.rejections.every((r: any) => r.writer === me.identity)).toBe(true)
    expect((await a.replication!.validators()).map(v => v.id).sort()).toEqual(['val-a', 'val-b'])
    expect(a.replication!.fold.tip()?.cid).toBe(head(a).cid)
    const reputationDb = await a.replication!.orbitdb.open(databases.reputation)
    for await (const e of reputationDb.log.iterator()) expect(String(e.payload?.key)).not.toMatch(new RegExp(`^${me.identity as string}/`))
    // A checked B's signatures: the checks, run in full and remembered, are counted in status and in the metrics
    const checks = (await a.status()).network!.signatureChecks
    expect(checks.checked).toBeGreaterThan(0)
    const scraped = await a.metrics.scrape()
    expect(scraped).toContain(`chainstore_signature_checks_total{result="checked"} ${checks.checked}`)
    expect(scraped).toMatch(/chainstore_signature_checks_total\{result="remembered"\} \d+/)
    // no chainstore code in its process but the access controller
    expect(s.loaded).toEqual([FROM_DIST ? 'dist/replication/orbitdb-access.js' : 'src/replication/orbitdb-access.ts'])
  }, 60_000)

  it('chainstore id names the database addresses a follower opens, without starting the node', async () => {
    const { dir, cleanup } = await tempDir('chainstore-stock-id-')
    cleanups.push(cleanup)
    const file = join(dir, 'config.json')
    await writeFile(file, JSON.stringify({ dataDir: join(dir, 'data'), network: { enabled: true, seed: 'stock-a', writers: WRITERS } }))
    const { stdout } = await execFileP(process.execPath, ['src/cli/main.ts', '-c', file, '--json', 'id'])
    const ids = JSON.parse(stdout)
    expect(ids.databases).toEqual(await chainstoreAddresses({ name: 'chainstore-devnet', writers: WRITERS }))
    // and they are what the started node opens
    const s = await createChainStore({ dataDir: join(dir, 'data'), network: { enabled: true, seed: 'stock-a', writers: WRITERS } }, { logger: quietLogger })
    cleanups.push(async () => { await s.stop() })
    expect(s.replication!.addressesOfDatabases()).toEqual(ids.databases)
  })
})
