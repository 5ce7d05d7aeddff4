/**
 * Baseline processes of the replication part, forked by `replication.ts` and
 * driven over IPC. Each runs a Helia (libp2p on 127.0.0.1 only, bitswap) over
 * its own LevelDB blockstore and datastore, as `naive.ts` builds it.
 *
 * argv[2]: JSON of { role, dir, peer?, address? }
 * - `orbit-writer`: opens a vanilla OrbitDB keyvalue database; on `write`
 *   puts one entry per transaction of the benchmark chain and returns the
 *   wall-clock time (Date.now) at which each put resolved.
 * - `orbit-reader`: dials the writer, opens the database by address, records
 *   when each entry arrived (OrbitDB's `update` event; with one writer the
 *   Lamport clock of entry i is i + 1, and a join brings every ancestor
 *   before it reports the head); `wait` resolves once `count` entries arrived.
 * - `bitswap`: dials a chainstore peer; `fetch` gets each header CID and then
 *   every page its header links, one `blockstore.get` at a time, over bitswap.
 */
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { createOrbitDB } from '@orbitdb/core'
import { CID } from 'multiformats/cid'
import { decodeHeader } from '../src/codec/decode.ts'
import { encodeBlock, type EncodedTx } from '../src/codec/encode.ts'
import { LIMITS, benchChain } from './common.ts'
import { loopbackHelia } from './naive.ts'

export type ChildRole = 'orbit-writer' | 'orbit-reader' | 'bitswap'
interface Init { role: ChildRole, dir: string, peer?: string, address?: string }
const init: Init = JSON.parse(process.argv[2])

const { helia, close } = await loopbackHelia(init.dir)
const addrs = helia.libp2p.getMultiaddrs().map(String)
if (!addrs.every(a => a.startsWith('/ip4/127.0.0.1/'))) throw new Error(`repl-child: libp2p listens beyond loopback: ${addrs.join(', ')}`)
if (init.peer != null) await helia.libp2p.dial(multiaddr(init.peer), { signal: AbortSignal.timeout(10_000) })

const send = (msg: unknown): void => { process.send?.(msg) }
let orbitdb: any = null
let db: any = null
const ops: Record<string, (args: any) => Promise<unknown>> = {}

if (init.role === 'orbit-writer') {
  orbitdb = await createOrbitDB({ ipfs: helia, id: 'bench-writer', directory: join(init.dir, 'orbitdb') })
  db = await orbitdb.open('bench-repl-kv', { type: 'keyvalue' })
  db.events.on('join', (peerId: any) => send({ event: 'join', peer: String(peerId) }))
  ops.write = async ({ count }: { count: number }) => {
    const txs: EncodedTx[] = []
    for (const b of benchChain().take(Math.ceil(count / 100), LIMITS)) txs.push(...encodeBlock(b, LIMITS).txs)
    const times: number[] = []
    const t0 = performance.now()
    for (let i = 0; i < count; i++) {
      await db.put(txs[i].id.toString(), txs[i].bytes)
      times.push(Date.now())
    }
    return { times, ms: performance.now() - t0 }
  }
  send({ event: 'ready', peer: `${addrs[0]}`, address: db.address })
} else if (init.role === 'orbit-reader') {
  orbitdb = await createOrbitDB({ ipfs: helia, id: 'bench-reader', directory: join(init.dir, 'orbitdb') })
  const arrivals: Array<[number, number]> = []
  let top = 0
  const waiters: Array<() => void> = []
  const onEntry = (entry: any): void => {
    const time = Number(entry?.clock?.time ?? 0)
    if (time <= top) return
    top = time
    arrivals.push([time, Date.now()])
    for (const w of waiters.splice(0)) w()
  }
  db = await orbitdb.open(init.address!)
  db.events.on('update', onEntry)
  // entries that arrived while `open` ran
  for (const h of await db.log.heads()) onEntry(h)
  ops.wait = async ({ count, timeoutMs }: { count: number, timeoutMs: number }) => {
    const end = Date.now() + timeoutMs
    while (top < count) {
      if (Date.now() > end) throw new Error(`orbit reader: ${top} of ${count} entries after ${timeoutMs} ms`)
      await new Promise<void>(resolve => { waiters.push(resolve); setTimeout(resolve, 500) })
    }
    return { arrivals }
  }
  send({ event: 'ready' })
} else if (init.role === 'bitswap') {
  ops.fetch = async ({ cids }: { cids: string[] }) => {
    const get = async (c: CID): Promise<number> => {
      let n = 0
      for await (const chunk of helia.blockstore.get(c, { signal: AbortSignal.timeout(30_000) } as any)) n += chunk.length
      return n
    }
    let objects = 0
    let bytes = 0
    const perBlockMs: number[] = []
    const t0 = performance.now()
    for (const s of cids) {
      const t = performance.now()
      const cid = CID.parse(s)
      const chunks: Uint8Array[] = []
      for await (const chunk of helia.blockstore.get(cid, { signal: AbortSignal.timeout(30_000) } as any)) chunks.push(chunk)
      const header = decodeHeader(Buffer.concat(chunks))
      bytes += chunks.reduce((n, c) => n + c.length, 0)
      objects++
      for (const p of [...header.txPages, ...header.receiptPages]) { bytes += await get(p); objects++ }
      perBlockMs.push(performance.now() - t)
    }
    return { blocks: cids.length, objects, bytes, ms: performance.now() - t0, perBlockMs }
  }
  send({ event: 'ready' })
}

async function stop (): Promise<void> {
  await db?.close().catch(() => {})
  await orbitdb?.stop().catch(() => {})
  await close().catch(() => {})
}
ops.stop = async () => { await stop(); setTimeout(() => process.exit(0), 10); return true }

process.on('message', (msg: any) => {
  const { id, op, args } = msg
  Promise.resolve().then(async () => {
    const fn = ops[op]
    if (fn == null) throw new Error(`unknown op ${op}`)
    return await fn(args ?? {})
  }).then(result => send({ id, ok: true, result }), (err: any) => send({ id, ok: false, error: { name: err?.name, message: err?.message } }))
})
process.on('disconnect', () => { stop().finally(() => process.exit(0)) })
