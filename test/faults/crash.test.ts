/**
 * Crashes with replication on: a child (helpers/net-crash-writer.ts) writes
 * blocks that are announced into the chain log, validator puts, blobs with
 * pin:false and user pins of them; the parent SIGKILLs it at a random moment
 * and reopens the data dir with the same network config and no repair step.
 * Checks, on top of test/helpers/verify-store.ts (every acknowledged block,
 * transaction and history entry; every stored byte hashes to its CID;
 * nothing half-written):
 * - every acknowledged validator put is in the validators store (or a later one);
 * - every acknowledged pin is a user pin whose bytes are stored;
 * - every acknowledged attestation reads back with its score and commitment,
 *   and its sealed payload opens to what was written;
 * - every OrbitDB head of the four databases (chain, validators,
 *   reputation, attestations), and every entry it reaches
 *   through `next` and `refs`, is a block in the local store;
 * - the chain log's fold holds every block up to the head once start-up has
 *   announced what the crash left unannounced.
 *
 *   FAULT_CRASH_CYCLES  kill cycles (default 15; test:faults:full sets CRASH_CYCLES=300, read as well)
 *   FAULT_CRASH_EPOCH   cycles per data dir (default 5)
 *   FAULT_CRASH_SEED    seed of the kill schedule (default random, printed)
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { afterEach, describe, expect, it } from 'vitest'
import { bytesMatchCid } from '../../src/codec/cid.ts'
import { parseConfig } from '../../src/config/index.ts'
import { createChainStore, type ChainStore } from '../../src/index.ts'
import { identityIdFromSeed } from '../../src/replication/keys.ts'
import { rng } from '../../src/synthetic/chain.ts'
import { quietLogger, tempDir } from '../helpers/store.ts'
import { ExpectedChain, KV_BLOCKS, KV_META, newLedger, scanLevel, verifyStore, type Ledger } from '../helpers/verify-store.ts'
import { ChildLines, type Msg } from './helpers/lines.ts'
import { randomBytes } from 'node:crypto'
import { isDeepStrictEqual } from 'node:util'
import type { NetCrashArgs } from './helpers/net-crash-writer.ts'

const WRITER = fileURLToPath(new URL('./helpers/net-crash-writer.ts', import.meta.url))
const CYCLES = Number(process.env.FAULT_CRASH_CYCLES ?? process.env.CRASH_CYCLES ?? 15)
const EPOCH = Number(process.env.FAULT_CRASH_EPOCH ?? 5)
const SEED = Number(process.env.FAULT_CRASH_SEED ?? Math.floor(Math.random() * 0x7fffffff) + 1)
const LIMITS = parseConfig({}).limits
const CHAIN = { txsPerBlock: [2, 8] as [number, number], addresses: 30, dataBytes: 16 }
const IDENTITY = 'crash-writer'
const WRITERS = [identityIdFromSeed(IDENTITY)]

const live = new Set<ChildProcessWithoutNullStreams>()
const stores = new Set<ChainStore>()
const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of live) c.kill('SIGKILL')
  await Promise.all([...live].map(async c => { if (c.exitCode == null && c.signalCode == null) await once(c, 'close') }))
  for (const s of stores) await s.stop().catch(() => {})
  stores.clear()
  for (const c of cleanups.splice(0)) await c()
})

function networkConfig (dataDir: string): Parameters<typeof createChainStore>[0] {
  return { dataDir, attestations: { enabled: true }, network: { enabled: true, seed: IDENTITY, writers: WRITERS, listen: ['/ip4/127.0.0.1/tcp/0'], intervalMs: 500 } }
}

/** Every entry reachable from the heads of an OrbitDB log, read from the local store only. */
function walkLog (store: ChainStore, heads: string[]): { entries: number, missing: string[] } {
  const seen = new Set<string>()
  const missing: string[] = []
  const stack = [...heads]
  while (stack.length > 0) {
    const hash = stack.pop()!
    if (seen.has(hash)) continue
    seen.add(hash)
    const cid = CID.parse(hash)
    const bytes = store.localBytes(cid)
    if (bytes == null) { missing.push(hash); continue }
    if (!bytesMatchCid(cid, bytes)) { missing.push(`${hash} (bytes do not hash to it)`); continue }
    const entry = dagCbor.decode<any>(bytes)
    for (const h of [...(entry.next ?? []), ...(entry.refs ?? [])]) stack.push(String(h))
  }
  return { entries: seen.size - missing.length, missing }
}

interface AckedAttestation { validator: string, height: number, score: number, digest: string, payload: Record<string, unknown> }
interface Extra { validators: Map<string, number>, pins: Set<string>, attestations: AckedAttestation[] }
const newExtra = (): Extra => ({ validators: new Map(), pins: new Set(), attestations: [] })

/** The replicated and pinned parts of one reopened store; problems as strings. */
async function checkReplicated (store: ChainStore, ledger: Ledger, extra: Extra): Promise<{ lost: string[], corrupt: string[], entries: number }> {
  const lost: string[] = []
  const corrupt: string[] = []
  const rep = store.replication!
  // the heads of every database and the entries behind them are local
  let entries = 0
  const dbs: Record<string, string> = { ...rep.addressesOfDatabases() }
  if (rep.attestationLog != null) dbs.attestations = rep.attestationLog.db.address
  else corrupt.push('attestations log not open')
  for (const [name, address] of Object.entries(dbs)) {
    const db = await rep.orbitdb.open(address)
    const heads: string[] = (await db.log.heads()).map((e: any) => String(e.hash))
    const walk = walkLog(store, heads)
    entries += walk.entries
    for (const m of walk.missing) corrupt.push(`${name} log: entry ${m} is not in the local store`)
  }
  // validators: the acknowledged value or a later one
  const vals = new Map((await rep.validators()).map(v => [v.id, Number(v.state.stake)]))
  for (const [id, stake] of extra.validators) {
    const got = vals.get(id)
    if (got == null || got < stake) lost.push(`validator ${id}: acknowledged stake ${stake}, stored ${String(got)}`)
  }
  // pins: a user pin, bytes stored and hashing to the CID
  const pinned = new Set<string>()
  for await (const p of store.pins()) if (p.reasons.includes('user')) pinned.add(p.cid.toString())
  for (const cid of extra.pins) {
    if (!pinned.has(cid)) lost.push(`user pin ${cid}`)
    const bytes = store.localBytes(cid)
    if (bytes == null) lost.push(`pinned blob ${cid}`)
    else if (!bytesMatchCid(CID.parse(cid), bytes)) corrupt.push(`pinned blob ${cid}: bytes do not hash to it`)
  }
  // attestations: the record as acknowledged, and the sealed payload opens to what was written
  const att = store.attestations!
  for (const a of extra.attestations) {
    const where = `attestation ${a.validator.slice(0, 12)}… @${a.height}`
    const r = await att.get(a.validator, a.height).catch((err: Error) => err)
    if (r instanceof Error) { lost.push(`${where}: ${r.name}`); continue }
    if (r.score !== a.score) corrupt.push(`${where}: score ${r.score}, acknowledged ${a.score}`)
    if (r.commitment == null || Buffer.from(r.commitment.digest).toString('hex') !== a.digest) corrupt.push(`${where}: commitment differs`)
    const payload = await att.getPayload(a.validator, a.height).catch((err: Error) => err)
    if (payload instanceof Error) lost.push(`${where}: payload ${payload.name}: ${payload.message}`)
    else if (!isDeepStrictEqual(payload, a.payload)) corrupt.push(`${where}: payload ${JSON.stringify(payload)}`)
  }
  // the chain log holds every block up to the head once start-up announced the leftovers
  await rep.flushAnnouncements()
  const until = Date.now() + 5_000
  const head = store.head()?.height ?? -1
  const unannounced = (): number[] => {
    const out: number[] = []
    for (let h = 0; h <= head; h++) if (rep.fold.get(store.canonicalAt(h)!.toString()) == null) out.push(h)
    return out
  }
  while (unannounced().length > 0 && Date.now() < until) await new Promise(resolve => setTimeout(resolve, 100))
  for (const h of unannounced()) lost.push(`block ${h}: not in the chain log's fold after start-up`)
  if (rep.fold.tip() != null && rep.fold.tip()!.cid !== store.head()?.cid.toString()) corrupt.push(`fold tip ${rep.fold.tip()!.cid} is not the store head ${store.head()?.cid.toString()}`)
  void ledger
  return { lost, corrupt, entries }
}

describe('kill -9 with replication, validators, pins and attestations', () => {
  it(`every acknowledged block, announcement, validator put, pin and attestation survives SIGKILL; logs resolve locally (${CYCLES} cycles)`, async () => {
    const random = rng(SEED)
    const started = performance.now()
    const t = { cycles: 0, blocks: 0, validators: 0, pins: 0, attestations: 0, entries: 0, lost: new Set<string>(), corrupt: new Set<string>(), failedOpens: [] as string[], childErrors: [] as string[] }
    let dataDir = ''
    let expected: ExpectedChain | undefined
    let ledger = newLedger()
    let extra = newExtra()
    let chainSeed = 0
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      if (cycle % EPOCH === 0) {
        const d = await tempDir('chainstore-netcrash-')
        cleanups.push(d.cleanup)
        dataDir = join(d.dir, 'data')
        chainSeed = 1 + (SEED + cycle) % 100_000
        expected = new ExpectedChain({ seed: chainSeed, ...CHAIN }, LIMITS)
        ledger = newLedger()
        extra = newExtra()
        // one master key per data dir; the writer inherits it, the reopen reads it
        process.env.CHAINSTORE_MASTER_KEY = randomBytes(32).toString('hex')
      }
      const args: NetCrashArgs = { cycle, dataDir, seed: chainSeed, identitySeed: IDENTITY, writers: WRITERS, ...CHAIN }
      const child = new ChildLines(process.execPath, [WRITER, JSON.stringify(args)], live)
      // kill moments: before ready (start-up, OrbitDB open, announcing leftovers) or 0-2.5 s into the writes
      const early = random() < 0.2
      const delay = random()
      let timer: NodeJS.Timeout | undefined
      if (early) timer = setTimeout(() => child.child.kill('SIGKILL'), 300 + delay * 2500)
      else {
        child.waitFor(m => m.t === 'ready', 'ready', 60_000).then(() => { timer = setTimeout(() => child.child.kill('SIGKILL'), delay * 2500) }, () => {})
      }
      const bound = setTimeout(() => child.child.kill('SIGKILL'), 60_000)
      const { signal } = await child.closed
      clearTimeout(timer); clearTimeout(bound)
      if (signal !== 'SIGKILL') {
        const err = child.lines.find(m => m.t === 'error')
        const msg = `cycle ${cycle}: writer ended on its own: ${child.describe()}`
        if (err != null && (err.phase === 'open' || err.phase === 'resume')) t.failedOpens.push(msg)
        else t.childErrors.push(msg)
      }
      for (const m of child.lines as Msg[]) {
        if (m.t === 'block') { if (!ledger.blocks.has(m.height)) t.blocks++; ledger.blocks.set(m.height, { cid: m.cid, txIds: m.txIds }) } else if (m.t === 'validator') { t.validators++; extra.validators.set(m.id, Math.max(extra.validators.get(m.id) ?? 0, m.stake)) } else if (m.t === 'pin') { t.pins++; extra.pins.add(m.cid) } else if (m.t === 'attestation') { t.attestations++; extra.attestations.push(m as unknown as AckedAttestation) }
      }
      t.cycles++

      let store: ChainStore
      try {
        store = await createChainStore(networkConfig(dataDir), { logger: quietLogger })
        stores.add(store)
      } catch (err) {
        t.failedOpens.push(`cycle ${cycle}: reopen failed: ${(err as Error).name}: ${(err as Error).message}`)
        continue
      }
      try {
        const f = await verifyStore(store, expected!, ledger, { blocks: KV_BLOCKS, meta: KV_META })
        for (const l of f.lost) t.lost.add(`${dataDir}: ${l}`)
        for (const c of f.corrupt) t.corrupt.add(`${dataDir}: ${c}`)
        const r = await checkReplicated(store, ledger, extra)
        t.entries = Math.max(t.entries, r.entries)
        for (const l of r.lost) t.lost.add(`${dataDir}: ${l}`)
        for (const c of r.corrupt) t.corrupt.add(`${dataDir}: ${c}`)
      } finally {
        await store.stop()
        stores.delete(store)
      }
      for (const p of (await scanLevel(dataDir)).problems) t.corrupt.add(`${dataDir}: raw scan: ${p}`)
    }
    const acked = t.blocks + t.validators + t.pins + t.attestations
    console.log(`[faults:crash] cycles=${t.cycles} acknowledged=${acked} (blocks=${t.blocks} validatorPuts=${t.validators} pins=${t.pins} attestations=${t.attestations}) lost=${t.lost.size}/${acked} corrupt=${t.corrupt.size} failedOpens=${t.failedOpens.length} childErrors=${t.childErrors.length} largestLog=${t.entries} entries seed=${SEED} ${((performance.now() - started) / 1000).toFixed(0)}s`)
    const sample = (s: Iterable<string>): string[] => [...s].slice(0, 15)
    expect(sample(t.failedOpens), 'failed opens').toEqual([])
    expect(sample(t.childErrors), 'writer errors').toEqual([])
    expect(sample(t.lost), 'lost acknowledged writes').toEqual([])
    expect(sample(t.corrupt), 'corruption').toEqual([])
    expect(t.blocks).toBeGreaterThan(0)
    expect(t.validators).toBeGreaterThan(0)
    expect(t.pins).toBeGreaterThan(0)
    expect(t.attestations).toBeGreaterThan(0)
  }, 120_000 + CYCLES * 30_000)
})
