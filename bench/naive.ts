/**
 * The naive design, for comparison: every transaction its own Helia block
 * (`blockstore.put`) and its own OrbitDB key-value entry. Run on a few
 * thousand / hundred transactions of the same chain; the node listens on
 * 127.0.0.1 only and reaches nothing else.
 */
import { join } from 'node:path'
import * as dagCbor from '@ipld/dag-cbor'
import { createOrbitDB } from '@orbitdb/core'
import { LevelBlockstore } from 'blockstore-level'
import { LevelDatastore } from 'datastore-level'
import { createHeliaLight } from 'helia'
import { encodeBlock, type EncodedTx } from '../src/codec/encode.ts'
import type { BlockInput } from '../src/codec/types.ts'
import { parseConfig } from '../src/config/index.ts'
import { withNetwork } from '../src/replication/network.ts'
import type { Libp2p } from '@libp2p/interface'
import { LIMITS, envInt, figure, fmt, progress, settle, type Figure } from './common.ts'

/** Settings of the naive part. */
export interface NaiveOptions {
  /** Transactions put through Helia alone. */
  heliaTxs: number
  /** Transactions put through OrbitDB (alone, then with Helia). */
  orbitTxs: number
}

/** Settings from the environment. */
export function naiveOptionsFromEnv (): NaiveOptions {
  return {
    heliaTxs: Math.max(10, envInt('BENCH_NAIVE_HELIA_TXS', 2_000)),
    orbitTxs: Math.max(10, envInt('BENCH_NAIVE_ORBITDB_TXS', 300))
  }
}

function txsOf (inputs: BlockInput[], n: number): EncodedTx[] {
  const out: EncodedTx[] = []
  for (const b of inputs) {
    if (out.length >= n) break
    out.push(...encodeBlock(b, LIMITS).txs)
  }
  return out.slice(0, n)
}

/** A Helia over its own LevelDB blockstore and datastore, without networking. */
async function lightHelia (dir: string) {
  const blockstore = new LevelBlockstore(join(dir, 'blocks'))
  const datastore = new LevelDatastore(join(dir, 'data'))
  await blockstore.open()
  await datastore.open()
  const helia = createHeliaLight({ blockstore, datastore, codecs: [dagCbor] })
  await helia.start()
  return { helia, close: async () => { await helia.stop(); await blockstore.close(); await datastore.close() } }
}

/** A Helia with libp2p on loopback only (the store's own network set-up), as OrbitDB needs. */
export async function loopbackHelia (dir: string) {
  const blockstore = new LevelBlockstore(join(dir, 'blocks'))
  const datastore = new LevelDatastore(join(dir, 'data'))
  await blockstore.open()
  await datastore.open()
  const helia = withNetwork(createHeliaLight({ blockstore, datastore, codecs: [dagCbor] }), { ...parseConfig({}).network, listen: ['/ip4/127.0.0.1/tcp/0'] })
  await helia.start()
  return { helia: helia as typeof helia & { libp2p: Libp2p }, close: async () => { await helia.stop(); await blockstore.close(); await datastore.close() } }
}

/** Runs the naive part; `storeTps` is the store's ingest figure it is compared with. */
export async function runNaive (root: string, inputs: BlockInput[], storeTps: number, storeLabel: string, opts: NaiveOptions): Promise<Figure[]> {
  const txs = txsOf(inputs, Math.max(opts.heliaTxs, opts.orbitTxs) + 50)
  const results: Record<string, { txs: number, ms: number }> = {}

  progress(`naive: ${fmt(opts.heliaTxs)} × Helia blockstore.put (one block per transaction)`)
  {
    const { helia, close } = await lightHelia(join(root, 'naive-helia'))
    try {
      // warm-up on other blocks (the JIT, LevelDB's first writes), untimed
      for (let i = 0; i < 50; i++) await helia.blockstore.put(txs[txs.length - 1 - i].id, txs[txs.length - 1 - i].bytes)
      await settle()
      const n = Math.min(opts.heliaTxs, txs.length - 50)
      const t0 = performance.now()
      for (let i = 0; i < n; i++) await helia.blockstore.put(txs[i].id, txs[i].bytes)
      results.helia = { txs: n, ms: performance.now() - t0 }
    } finally {
      await close()
    }
  }

  progress(`naive: starting a loopback Helia + OrbitDB for ${fmt(opts.orbitTxs)} key-value entries`)
  {
    const { helia, close } = await loopbackHelia(join(root, 'naive-orbit'))
    const addrs = helia.libp2p.getMultiaddrs().map(String)
    if (!addrs.every(a => a.startsWith('/ip4/127.0.0.1/'))) throw new Error(`naive: libp2p listens beyond loopback: ${addrs.join(', ')}`)
    const orbitdb = await createOrbitDB({ ipfs: helia, id: 'bench', directory: join(root, 'naive-orbit', 'orbitdb') })
    try {
      const warm = await orbitdb.open('naive-warm-up', { type: 'keyvalue' })
      for (let i = 0; i < 20; i++) await warm.put(`warm-${i}`, txs[txs.length - 1 - i].bytes)
      await warm.close()
      const kvOnly = await orbitdb.open('naive-kv-only', { type: 'keyvalue' })
      const both = await orbitdb.open('naive-kv-and-helia', { type: 'keyvalue' })
      const n = Math.min(opts.orbitTxs, txs.length - 50)
      await settle()
      let t0 = performance.now()
      for (let i = 0; i < n; i++) await kvOnly.put(txs[i].id.toString(), txs[i].bytes)
      results.orbitdb = { txs: n, ms: performance.now() - t0 }
      progress(`naive: OrbitDB put ${fmt(n / results.orbitdb.ms * 1000)} tx/s`)
      await settle()
      t0 = performance.now()
      for (let i = 0; i < n; i++) {
        await helia.blockstore.put(txs[i].id, txs[i].bytes)
        await both.put(txs[i].id.toString(), txs[i].bytes)
      }
      results.both = { txs: n, ms: performance.now() - t0 }
      await kvOnly.close()
      await both.close()
    } finally {
      await orbitdb.stop()
      await close()
    }
  }

  const tps = (k: string): number => results[k].txs / results[k].ms * 1000
  for (const [k, m] of Object.entries(results)) progress(`naive ${k}: ${fmt(m.txs)} txs in ${fmt(m.ms)} ms, ${fmt(tps(k))} tx/s`)
  const baseline = { label: storeLabel, value: storeTps }
  return [
    figure({ id: 'naive.heliaPutPerTx.txPerSec', group: 'naive design (one object per transaction)', label: 'Helia blockstore.put per tx', unit: 'tx/s', value: tps('helia'), better: 'higher', baseline, detail: results.helia }),
    figure({ id: 'naive.orbitdbPutPerTx.txPerSec', group: 'naive design (one object per transaction)', label: 'OrbitDB keyvalue put per tx', unit: 'tx/s', value: tps('orbitdb'), better: 'higher', baseline, detail: results.orbitdb }),
    figure({ id: 'naive.heliaAndOrbitdbPerTx.txPerSec', group: 'naive design (one object per transaction)', label: 'Helia put + OrbitDB put per tx', unit: 'tx/s', value: tps('both'), better: 'higher', baseline, detail: results.both })
  ]
}
