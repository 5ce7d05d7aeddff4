/**
 * One devnet peer as its own process, driven over IPC by `controller.ts`
 * (tests, the benchmark and `npm start` use it). Peers in separate processes
 * are what the figures need: in one process OrbitDB shares its
 * signature-verification cache (STACK-NOTES pitfall 12).
 *
 * argv[2]: JSON of { config, byzantine? }.
 */
import { createChainStore, type ChainStoreConfigInput } from '../index.ts'
import { createLogger } from '../logger.ts'
import { startReadApi } from '../api/server.ts'
import { BLOCKS_PROTOCOL, serveBlocks } from '../replication/protocol.ts'
import type { Consistency } from '../replication/replicator.ts'
import { devnetChain } from './chain.ts'
import { CID } from 'multiformats/cid'
import { multiaddr } from '@multiformats/multiaddr'
import { lpStream } from '@libp2p/utils'
import { useAccessController } from '@orbitdb/core'
import { ACCESS_CONTROLLER_TYPE } from '../replication/access.ts'
import * as dagCbor from '@ipld/dag-cbor'
import { openDatabase } from '../replication/open-db.ts'
import { base58btc } from 'multiformats/bases/base58'
import { cidOf } from '../codec/cid.ts'
import { writeHeapSnapshot } from 'node:v8'

interface Init { config: ChainStoreConfigInput, byzantine?: 'wrong-bytes', api?: boolean }
const init: Init = JSON.parse(process.argv[2])
const logger = createLogger({ level: (init.config.logLevel as any) ?? 'warn' })
const store = await createChainStore(init.config, { logger })
const rep = store.replication!
// the node's HTTP API and dashboard, on its profile's api host and port
const api = init.api === true ? await startReadApi(store, { host: store.config.api.host, port: store.config.api.port, logger }) : null

if (init.byzantine === 'wrong-bytes') {
  // serves every page with one byte flipped: the receiver must notice by hashing
  await rep.libp2p.unhandle(BLOCKS_PROTOCOL)
  await rep.libp2p.handle(BLOCKS_PROTOCOL, (stream: any) => serveBlocks(stream, {
    hasBlock: c => store.hasBlock(c),
    blockDag: c => store.blockDag(c).map((b, i) => {
      if (i === 0) return b
      const bytes = Uint8Array.from(b.bytes)
      bytes[bytes.length - 1] ^= 0xff
      return { cid: b.cid, bytes }
    })
  }, () => {}))
}

const send = (msg: unknown): void => { process.send?.(msg) }
store.events.on('head', (h: { height: number, cid: CID }) => send({ event: 'head', height: h.height, cid: h.cid.toString(), t: Date.now() }))
store.events.on('reorg', (r: any) => send({ event: 'reorg', forkHeight: r.forkHeight, removed: r.removed.length, added: r.added.length, t: Date.now() }))

/** The blocks this process stored last, by height (what finality announces, without reading them back). */
const recent = new Map<number, { cid: CID, height: number, parent: CID | null, txCount: number }>()
const RECENT_MAX = 1024

/** Finalizes the canonical block `lag` heights below the head, here and in the chain index (a chain whose finality trails its head). */
async function finalizeBelow (lag: number): Promise<void> {
  const head = store.head()
  if (head == null || head.height - lag <= store.finalizedHeight()) return
  // a read would fill the memory tier (decoded headers) as a side effect of the driver
  const cid = store.canonicalAt(head.height - lag)
  const b = recent.get(head.height - lag)
  const block = b != null && cid != null && b.cid.equals(cid) ? b : store.getHeaderSync(head.height - lag)
  await store.setFinalized(block.height)
  rep.finalize({ cid: block.cid, height: block.height, parent: block.parent == null ? null : CID.asCID(block.parent) ?? CID.parse(String(block.parent)), txCount: block.txCount })
}

const ops: Record<string, (args: any) => Promise<unknown> | unknown> = {
  info: () => ({ peerId: rep.peerId, identity: rep.identityId, identityHash: String(rep.orbitdb.identity.hash), addresses: rep.addresses(), databases: rep.addressesOfDatabases(), pid: process.pid, api: api?.url ?? null }),
  head: () => { const h = store.head(); return h == null ? null : { height: h.height, cid: h.cid.toString() } },
  /** Stores `count` synthetic blocks continuing the local head, `batch` per call; returns per-call latencies and the CPU (µs) spent generating the blocks. */
  ingest: async ({ count, seed = 1, txs = 100, batch = 1, consistency = 'one', weight, finalized, ratePerSec, finalityLag }: { count: number, seed?: number, txs?: number, batch?: number, consistency?: Consistency, weight?: number, finalized?: boolean, ratePerSec?: number, finalityLag?: number }) => {
    const chain = devnetChain(seed, txs)
    const head = store.head()
    if (head != null) chain.resume(head)
    const latencies: number[] = []
    const stored: Array<{ cid: string, height: number }> = []
    const errors: Array<{ name: string, message: string, confirmed?: string[] }> = []
    // generated before the clock starts: the rate is the store's, not the generator's;
    // its CPU is returned so a CPU-per-block figure can leave out making the test data
    const generating = process.cpuUsage()
    const calls: ReturnType<typeof chain.take>[] = []
    for (let done = 0; done < count; done += batch) calls.push(chain.take(Math.min(batch, count - done), store.config.limits))
    const used = process.cpuUsage(generating)
    const generateCpuUs = used.user + used.system
    const start = performance.now()
    // wall clock of the first store, for figures timed across processes (the generation above is not the store's)
    const startedAt = Date.now()
    for (let i = 0, done = 0; i < calls.length; done += calls[i].length, i++) {
      const blocks = calls[i]
      if (ratePerSec != null) {
        const due = start + (done / ratePerSec) * 1000
        const wait = due - performance.now()
        if (wait > 0) await new Promise(r => setTimeout(r, wait))
      }
      const t = performance.now()
      try {
        const res = await store.storeBlocks(blocks, { consistency, weight, finalized })
        for (const r of res) stored.push({ cid: r.cid.toString(), height: r.height })
        if (finalityLag != null) {
          res.forEach((r, k) => {
            const parent = blocks[k].parent
            recent.set(r.height, { cid: r.cid, height: r.height, parent: parent == null ? null : CID.asCID(parent) ?? CID.parse(String(parent)), txCount: blocks[k].transactions.length })
            if (recent.size > RECENT_MAX) recent.delete(recent.keys().next().value!)
          })
          await finalizeBelow(finalityLag)
        }
      } catch (err: any) {
        errors.push({ name: err.name, message: err.message, confirmed: err.confirmed })
        // the blocks are stored locally even when the quorum failed
        for (const b of blocks) stored.push({ cid: '', height: b.height })
      }
      latencies.push(performance.now() - t)
    }
    return { stored, latencies, errors, ms: performance.now() - start, t: Date.now(), startedAt, generateCpuUs }
  },
  canonical: ({ from, to }: { from: number, to: number }) => {
    const out: string[] = []
    for (let h = from; h <= to; h++) out.push(store.canonicalAt(h)?.toString() ?? '')
    return out
  },
  block: ({ ref }: { ref: number | string }) => { const b = store.getBlockSync(ref); return { cid: b.cid.toString(), height: b.header.height, txCount: b.header.txCount } },
  hasBlock: ({ cid }: { cid: string }) => store.hasBlock(cid),
  getBytes: async ({ cid, timeoutMs }: { cid: string, timeoutMs?: number }) => (await store.getBytes(cid, { timeoutMs })).length,
  putBytes: async ({ hex }: { hex: string }) => (await store.putBytes(Buffer.from(hex, 'hex'))).toString(),
  putValidator: async ({ id, state }: { id: string, state: any }) => { await rep.putValidator(id, state); return true },
  validators: async () => await rep.validators(),
  peers: async () => await rep.peers(),
  reputation: async () => { await rep.reputation.refresh(); return rep.reputation.scores() },
  stats: () => ({ ...rep.stats, fold: rep.fold.size, foldMemory: rep.foldMemory, signatures: rep.signatureChecks, writerIdentities: rep.writerIdentities }),
  /** True when the block (any IPLD block, e.g. an identity) is held in this node's blockstore. */
  holdsBlock: ({ cid }: { cid: string }) => store.localBytes(cid) != null,
  /** This process's CPU time so far (user + system, µs), for CPU per replicated block. */
  cpu: () => { const c = process.cpuUsage(); return c.user + c.system },
  /** Distinct connected peers, what discovery learned and dialled, and connections closed at the limit to keep a slot free. */
  connections: () => ({
    peers: new Set(rep.libp2p.getConnections().map(c => c.remotePeer.toString())).size,
    known: rep.discovery?.known ?? 0,
    heard: rep.discovery?.heard ?? 0,
    dialled: rep.discovery?.dialled ?? 0,
    trimmed: rep.stats.connectionsTrimmed
  }),
  queue: async () => await rep.queue(),
  dial: async ({ addr }: { addr: string }) => { await rep.dial(addr); return true },
  idle: async () => { await rep.idle(); return true },
  /**
   * Fault tests: appends an announcement to another network's chain log by
   * its address, as a writer outside the validator set would (this process
   * accepts its own entry; honest replicas must refuse it).
   */
  forgeAnnouncement: async ({ address, height }: { address: string, height: number }) => {
    // OrbitDB calls a registered controller type as a factory, then the controller
    const permissive = Object.assign(() => async ({ address: a }: any) => ({ type: ACCESS_CONTROLLER_TYPE, address: a, write: ['*'], canAppend: async () => true }), { type: ACCESS_CONTROLLER_TYPE })
    useAccessController(permissive)
    // the honest controller is open under this address: close it so the open
    // below builds the controller from the manifest type, now the permissive one
    await (await rep.orbitdb.open(address)).close()
    // a new instance, not the replicator's: it needs its own 'error' listener
    const db = await openDatabase(rep.orbitdb, address, {}, 'chain (forging)', logger)
    const fake = (await store.putBytes(new TextEncoder().encode(`forged ${height}`))).toString()
    const hash = await db.add({ v: 1, blocks: [{ cid: fake, height, parent: null, weight: 1_000_000, finalized: true, txCount: 0 }] })
    return hash
  },
  /** Fault tests: sends raw bytes on a protocol of another peer and reports what came back. */
  rawRequest: async ({ addr, protocol, hex, repeat = 1, lengthPrefixed = true }: { addr: string, protocol: string, hex: string, repeat?: number, lengthPrefixed?: boolean }) => {
    const signal = AbortSignal.timeout(10_000)
    const stream: any = await rep.libp2p.dialProtocol(multiaddr(addr), protocol, { signal })
    const payload = Buffer.from(hex.repeat(repeat), 'hex')
    try {
      if (lengthPrefixed) {
        const lp = lpStream(stream, { maxDataLength: 64 * 1024 * 1024 })
        await lp.write(payload, { signal })
        const reply = await lp.read({ signal })
        return { reply: Buffer.from(reply.subarray()).toString('hex').slice(0, 400) }
      }
      stream.send(payload)
      await stream.close({ signal })
      return { reply: null }
    } catch (err: any) {
      return { error: `${err.name}: ${err.message}` }
    }
  },
  /** Fault tests: this process's memory (heap after a GC when run with --expose-gc). */
  memory: () => {
    (globalThis as any).gc?.()
    const m = process.memoryUsage()
    return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, gcExposed: typeof (globalThis as any).gc === 'function' }
  },
  /** Soak: a V8 heap snapshot of this process after a GC, written to `path` (for scripts/heap-diff.ts). */
  heapSnapshot: ({ path }: { path: string }) => {
    (globalThis as any).gc?.()
    return { path: writeHeapSnapshot(path) }
  },
  /** Fault tests: the head entries of one of this node's databases, as their block bytes (hex). */
  headEntries: async ({ database }: { database: 'chain' | 'validators' | 'reputation' }) => {
    const db = await rep.orbitdb.open(rep.addressesOfDatabases()[database])
    const heads: any[] = await db.log.heads()
    return heads.map(e => ({ hash: String(e.hash), hex: Buffer.from(store.localBytes(String(e.hash)) ?? new Uint8Array(0)).toString('hex') }))
  },
  /**
   * Tests: appends an entry to one of this node's logs without publishing it
   * (OrbitDB's log.append, not the database's), so peers learn of it only
   * through anti-entropy; returns its hash.
   */
  appendUnpublished: async ({ database, payload }: { database: 'chain' | 'validators' | 'reputation', payload: unknown }) => {
    const db = await rep.orbitdb.open(rep.addressesOfDatabases()[database])
    const entry = await db.log.append(payload)
    return { hash: String(entry.hash) }
  },
  /**
   * Fault tests: a forged identity. Builds an entry on top of a real entry of
   * another writer (`hex`, `hash`), claiming that writer's identity
   * (`identity` field) with this node's signature: `key: 'own'` puts this
   * node's public key beside it (a valid signature under a key that is not
   * the claimed identity's), `key: 'claimed'` the claimed writer's key (a
   * signature that does not verify). Publishes it on `topic`; returns its hash.
   */
  forgeIdentity: async ({ topic, hex, hash, payload, key }: { topic: string, hex: string, hash: string, payload: unknown, key: 'own' | 'claimed' }) => {
    const real = dagCbor.decode<any>(Buffer.from(hex, 'hex'))
    const me = rep.orbitdb.identity
    const publicKey: string = key === 'own' ? me.publicKey : real.key
    const value = { id: real.id, payload, next: [hash], refs: [], clock: { id: publicKey, time: Number(real.clock.time) + 1 }, v: 2 }
    const sig: string = await me.sign(me, dagCbor.encode(value))
    const bytes = dagCbor.encode({ ...value, key: publicKey, identity: real.identity, sig })
    await (rep.libp2p.services as any).pubsub.publish(topic, bytes)
    return { hash: cidOf(bytes).toString(base58btc) }
  },
  /**
   * Fault tests: publishes raw bytes on a pubsub topic (an OrbitDB database
   * address is the topic its heads travel on), `repeat` times (`vary`: each copy with its index appended, so none is a duplicate).
   */
  publishRaw: async ({ topic, hex, repeat = 1, vary = false }: { topic: string, hex: string, repeat?: number, vary?: boolean }) => {
    const pubsub = (rep.libp2p.services as any).pubsub
    const bytes = Buffer.from(hex, 'hex')
    let sent = 0
    for (let i = 0; i < repeat; i++) {
      try { await pubsub.publish(topic, vary ? Buffer.concat([bytes, Buffer.from(String(i))]) : bytes); sent++ } catch {}
    }
    return { sent }
  },
  stop: async () => { ignoreRejectionsWhileStopping(); await api?.close(); await store.stop(); setTimeout(() => process.exit(0), 10); return true }
}

process.on('message', (msg: any) => {
  const { id, op, args } = msg
  Promise.resolve().then(() => {
    const fn = ops[op]
    if (fn == null) throw new Error(`unknown op ${op}`)
    return fn(args ?? {})
  }).then(result => send({ id, ok: true, result }), (err: any) => send({ id, ok: false, error: { name: err?.name, message: err?.message } }))
})
// the parent going away, or Ctrl-C reaching the whole process group: stop cleanly
/**
 * Once stopping, a rejection nothing catches is not a failure of the peer: a
 * stop that outlasts its grace aborts OrbitDB's network reads, which can
 * reject inside OrbitDB (see Replicator.stop).
 */
function ignoreRejectionsWhileStopping (): void {
  process.on('unhandledRejection', () => {})
}
const shutdown = (): void => { ignoreRejectionsWhileStopping(); (api?.close() ?? Promise.resolve()).then(async () => { await store.stop() }).finally(() => process.exit(0)) }
process.on('disconnect', shutdown)
process.once('SIGINT', shutdown)
process.once('SIGTERM', shutdown)
send({ event: 'ready' })
