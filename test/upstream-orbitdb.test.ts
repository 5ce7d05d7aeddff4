import { join } from 'node:path'
import { createOrbitDB, IPFSAccessController } from '@orbitdb/core'
import { afterEach, describe, expect, it } from 'vitest'
import { stockHelia } from './helpers/stock-helia.ts'
import { tempDir } from './helpers/store.ts'
import { eventually, until } from './helpers/wait.ts'

// The reproduction of docs/UPSTREAM-ORBITDB.md: stock OrbitDB 4 peers only
// (Helia + libp2p on 127.0.0.1, OrbitDB's own access controller), no
// chainstore code on the path under test. A head larger than a yamux stream
// window reaches the reader in pieces, and OrbitDB's Sync decodes each piece
// as one entry: the head exchange fails with a CBOR decode error and the
// reader does not get the head. When OrbitDB frames its head exchange, these
// tests fail: then chainstore's workaround (src/replication/stock-heads.ts)
// can go.

/** A stock OrbitDB peer: Helia (LevelDB stores in `dir`), libp2p on 127.0.0.1, OrbitDB. */
async function stockPeer (dir: string) {
  const { helia, stop: stopHelia } = await stockHelia(dir)
  const orbitdb = await createOrbitDB({ ipfs: helia, directory: join(dir, 'orbitdb') })
  const errors: string[] = []
  /** Opens a database with an 'error' listener before its sync starts (an unheard sync error would end the process). */
  const open = async (address: string): Promise<any> => {
    const db = await orbitdb.open(address, { AccessController: IPFSAccessController({ write: ['*'] }), sync: false })
    db.events.on('error', (err: Error) => errors.push(String(err?.message ?? err)))
    await db.sync.start()
    return db
  }
  const stop = async (): Promise<void> => { await orbitdb.stop(); await stopHelia() }
  return { helia, orbitdb, errors, open, stop }
}
type StockPeer = Awaited<ReturnType<typeof stockPeer>>

const KB = 1000
const pad = (tag: string, bytes: number): string => tag + 'x'.repeat(bytes)

describe('upstream: OrbitDB 4 decodes each head-exchange chunk as one entry (stock peers only)', () => {
  let peers: StockPeer[] = []
  let cleanups: Array<() => Promise<void>> = []
  afterEach(async () => {
    await Promise.all(peers.map(async p => await p.stop()))
    peers = []
    for (const c of cleanups.reverse()) await c()
    cleanups = []
  })
  const start = async (): Promise<StockPeer> => {
    const { dir, cleanup } = await tempDir('chainstore-upstream-')
    cleanups.push(cleanup)
    const p = await stockPeer(dir)
    peers.push(p)
    return p
  }
  const heads = async (db: any): Promise<string[]> => (await db.log.heads()).map((e: any) => String(e.hash)).sort()

  it('a head of 300 kB (more than the 256 KiB stream window) fails to decode at the reader, which never gets it', async () => {
    const a = await start()
    const b = await start()
    const dbA = await a.open('upstream-large-head')
    await dbA.add(pad('large', 300 * KB))
    const wanted = await heads(dbA)
    await b.helia.libp2p.dial(a.helia.libp2p.getMultiaddrs()[0])
    const dbB = await b.open(dbA.address)
    await until(async () => b.errors.length > 0, 20_000, 'the reader\'s head exchange to fail')
    expect(b.errors.some(m => /CBOR decode error/.test(m)), b.errors.join('; ')).toBe(true)
    // connected, subscribed, and still without the head: Sync does not ask again
    expect(await eventually(async () => (await heads(dbB)).length > 0, 3_000)).toBe(false)
    expect(wanted).toHaveLength(1)
  })

  it('two concurrent heads of 200 kB sent back to back: the second arrives in pieces and the reader does not get both', async () => {
    const a = await start()
    const c = await start()
    const b = await start()
    // C opens A's database (it fetches the manifest from A), they part, each
    // writes, then they meet again: both logs have two heads
    const dbA = await a.open('upstream-two-heads')
    await c.helia.libp2p.dial(a.helia.libp2p.getMultiaddrs()[0])
    const dbC = await c.open(dbA.address)
    await c.helia.libp2p.hangUp(a.helia.libp2p.peerId)
    await dbA.add(pad('from a', 200 * KB))
    await dbC.add(pad('from c', 200 * KB))
    await c.helia.libp2p.dial(a.helia.libp2p.getMultiaddrs()[0])
    await until(async () => (await heads(dbA)).length === 2, 20_000, 'A to join C\'s head')
    const wanted = await heads(dbA)
    await c.stop()
    peers = peers.filter(p => p !== c)
    // B follows A alone
    await b.helia.libp2p.dial(a.helia.libp2p.getMultiaddrs()[0])
    const dbB = await b.open(dbA.address)
    await until(async () => b.errors.length > 0, 20_000, 'the reader\'s head exchange to fail')
    expect(b.errors.some(m => /CBOR decode error/.test(m)), b.errors.join('; ')).toBe(true)
    expect(await eventually(async () => JSON.stringify(await heads(dbB)) === JSON.stringify(wanted), 3_000)).toBe(false)
  })
})
