/**
 * State: account writes and reads, proofs.
 *
 * Writes: `state.put` of `accounts` accounts with a `commit` every
 * `commitEvery` puts (trie update, node collection, one LevelDB batch with
 * nodes, root and flat entries) against raw classic-level batches of the same
 * flat keys and encoded records (no trie: the cost floor of putting the bytes).
 * Reads, on the committed head (reopened: cold node cache), over random keys:
 * `state.get` (flat layer, one getSync + decode), `state.getFromTrie` (trie
 * walk from the root through the node cache / LevelDB), against raw
 * `getSync` (and async `get`) of the same flat keys. Proofs:
 * `state.prove` and `verifyProof` of random keys.
 */
import { join } from 'node:path'
import { openLevel } from '../src/storage/level.ts'
import { encodeAccount, emptyAccount } from '../src/state/account.ts'
import { flatKey, keccak256 } from '../src/state/keys.ts'
import { StateStore, verifyProof, type AccountState } from '../src/state/index.ts'
import { parseConfig } from '../src/config/index.ts'
import { envInt, figure, fmt, openRaw, progress, quietLogger, settle, type Figure } from './common.ts'

/** Settings of the state part. */
export interface StateOptions {
  /** Accounts written (and the key space reads draw from). */
  accounts: number
  /** Puts per commit. */
  commitEvery: number
  /** Random reads per timed pass. */
  reads: number
  /** Proofs generated and verified. */
  proofs: number
}

/** Settings from the environment. */
export function stateOptionsFromEnv (): StateOptions {
  return {
    accounts: Math.max(1_000, envInt('BENCH_STATE_ACCOUNTS', 50_000)),
    commitEvery: Math.max(1, envInt('BENCH_STATE_COMMIT_EVERY', 1_000)),
    reads: Math.max(1_000, envInt('BENCH_STATE_READS', 50_000)),
    proofs: Math.max(100, envInt('BENCH_STATE_PROOFS', 5_000))
  }
}

function rng (seed: number): () => number {
  let x = seed | 0 || 1
  return () => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return (x >>> 0) / 0x1_0000_0000 }
}

function address (i: number): Uint8Array {
  return keccak256(new TextEncoder().encode(`bench account ${i}`)).subarray(12)
}

function accountOf (i: number): AccountState {
  return { ...emptyAccount(), balance: 10n ** 21n + BigInt(i) * 7919n, nonce: i % 1000, stake: BigInt(i % 17) * 10n ** 18n, validator: i % 50 === 0 ? 'active' : 'none', score: i % 5 === 0 ? { count: 3, sum: 7.5, min: 1.5, max: 3 } : emptyAccount().score }
}

async function timed (n: number, op: (i: number) => Promise<unknown>): Promise<number> {
  for (let i = 0; i < Math.min(2_000, n / 10); i++) await op(i)
  const t0 = performance.now()
  for (let i = 0; i < n; i++) await op(i)
  return n / (performance.now() - t0) * 1000
}

/** Runs the state part in a fresh data dir under `root`. */
export async function runState (root: string, opts: StateOptions): Promise<Figure[]> {
  const keys = Array.from({ length: opts.accounts }, (_, i) => address(i))
  const accounts = Array.from({ length: opts.accounts }, (_, i) => accountOf(i))
  const values = accounts.map(encodeAccount)
  const random = rng(4242)
  const readIdx = Array.from({ length: opts.reads }, () => Math.floor(random() * opts.accounts))
  const proofIdx = Array.from({ length: opts.proofs }, () => Math.floor(random() * opts.accounts))
  const level = parseConfig({}).level
  const out: Record<string, number> = {}

  // raw baseline: the same flat keys and record bytes, batches of commitEvery
  const rawDir = join(root, 'state-raw')
  const raw = await openRaw(rawDir)
  try {
    await settle()
    const t0 = performance.now()
    for (let i = 0; i < opts.accounts; i += opts.commitEvery) {
      const batch = raw.batch()
      for (let j = i; j < Math.min(opts.accounts, i + opts.commitEvery); j++) batch.put(flatKey(keys[j]), values[j])
      await batch.write()
    }
    out.rawWrites = opts.accounts / (performance.now() - t0) * 1000
    await settle()
    out.rawGet = await timed(opts.reads, async i => await raw.get(flatKey(keys[readIdx[i]])))
    out.rawGetSync = await timed(opts.reads, async i => raw.getSync(flatKey(keys[readIdx[i]])))
  } finally {
    await raw.close()
  }
  progress(`state raw: writes ${fmt(out.rawWrites)}/s, get ${fmt(out.rawGet)}/s, getSync ${fmt(out.rawGetSync)}/s`)

  const dataDir = join(root, 'state-store')
  let dbs = await openLevel(dataDir, level)
  let state = await StateStore.open({ ...dbs, sync: false, logger: quietLogger })
  let commits = 0
  let nodes = 0
  let nodeBytes = 0
  try {
    await settle()
    const t0 = performance.now()
    for (let i = 0; i < opts.accounts; i++) {
      await state.put(keys[i], accounts[i])
      if ((i + 1) % opts.commitEvery === 0 || i === opts.accounts - 1) {
        const c = await state.commit(commits++)
        nodes += c.nodes
        nodeBytes += c.bytes
      }
    }
    out.stateWrites = opts.accounts / (performance.now() - t0) * 1000
    progress(`state writes: ${fmt(out.stateWrites)} accounts/s (${commits} commits, ${fmt(nodes)} nodes, ${fmt(nodeBytes / 2 ** 20, 1)} MiB of nodes)`)
    // reads on a reopened store: the node cache starts cold, as after a restart
    await state.close()
    await dbs.db.close()
    dbs = await openLevel(dataDir, level)
    state = await StateStore.open({ ...dbs, sync: false, logger: quietLogger })
    await settle()
    out.flatGet = await timed(opts.reads, async i => await state.get(keys[readIdx[i]]))
    await settle()
    out.trieGet = await timed(opts.reads, async i => await state.getFromTrie(keys[readIdx[i]]))
    progress(`state reads: flat ${fmt(out.flatGet)}/s, trie walk ${fmt(out.trieGet)}/s`)
    const proofs: Array<Awaited<ReturnType<StateStore['prove']>>> = []
    await settle()
    let t = performance.now()
    for (const i of proofIdx) proofs.push(await state.prove(keys[i]))
    out.prove = opts.proofs / (performance.now() - t) * 1000
    t = performance.now()
    for (const p of proofs) if (await verifyProof(p.root, p.key, p.nodes) == null) throw new Error('a present key verified as absent')
    out.verify = opts.proofs / (performance.now() - t) * 1000
    out.proofNodes = proofs.reduce((n, p) => n + p.nodes.length, 0) / proofs.length
    out.proofBytes = proofs.reduce((n, p) => n + p.nodes.reduce((m, b) => m + b.length, 0), 0) / proofs.length
    progress(`state proofs: prove ${fmt(out.prove)}/s, verify ${fmt(out.verify)}/s (${fmt(out.proofNodes, 1)} nodes, ${fmt(out.proofBytes)} bytes each)`)
  } finally {
    await state.close()
    await dbs.db.close()
  }

  const group = `state (${fmt(opts.accounts)} accounts, commit every ${fmt(opts.commitEvery)})`
  const detail = { ...opts, commits, nodes, nodeBytes, recordBytes: values[0].length }
  return [
    figure({ id: 'state.writes.perSec', group, label: 'state.put + commit', unit: 'accounts/s', value: out.stateWrites, better: 'higher', baseline: { label: 'raw batch put, same keys and records', value: out.rawWrites }, detail }),
    figure({ id: 'state.reads.flat.perSec', group, label: 'state.get (flat layer)', unit: 'reads/s', value: out.flatGet, better: 'higher', baseline: { label: 'raw getSync, same keys', value: out.rawGetSync } }),
    figure({ id: 'state.reads.trie.perSec', group, label: 'state.getFromTrie (trie walk)', unit: 'reads/s', value: out.trieGet, better: 'higher', baseline: { label: 'raw getSync, same keys', value: out.rawGetSync } }),
    figure({ id: 'state.reads.rawAsync.perSec', group, label: 'raw get (async), same keys (reference)', unit: 'reads/s', value: out.rawGet, better: 'higher' }),
    figure({ id: 'state.proofs.prove.perSec', group, label: 'state.prove', unit: 'proofs/s', value: out.prove, better: 'higher', detail: { nodesPerProof: out.proofNodes, bytesPerProof: out.proofBytes } }),
    figure({ id: 'state.proofs.verify.perSec', group, label: 'verifyProof', unit: 'proofs/s', value: out.verify, better: 'higher' })
  ]
}
