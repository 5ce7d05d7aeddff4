// A stock OrbitDB 4 app following a chainstore network, read-only: Helia,
// libp2p on 127.0.0.1, @orbitdb/core, and chainstore's access controller
// imported the way an app imports it, `chainstore/orbitdb-access` — no other
// chainstore code. Run by test/stock-orbitdb.test.ts, driven over IPC
// (`open`, `state`, `write`, `stop`). By default the test starts it with
// `node --import ./scripts/source-exports.mjs`, which resolves the package's
// exports to their sources in a checkout (src/replication/orbitdb-access.ts);
// with STOCK_PEER_DIST=1 it starts without the hook and Node resolves the
// package's own name through package.json `exports` to the build
// (dist/replication/orbitdb-access.js, after `npm run build`).
import { registerHooks } from 'node:module'

// every module this process loads from chainstore's sources or build (the test expects the access controller alone)
const root = new URL('../../', import.meta.url).href
const loaded = new Set()
registerHooks({
  load (url, context, next) {
    const path = url.startsWith(root) ? url.slice(root.length) : ''
    if (path.startsWith('src/') || path.startsWith('dist/')) loaded.add(path)
    return next(url, context)
  }
})

const { join } = await import('node:path')
const { multiaddr } = await import('@multiformats/multiaddr')
const { stockHelia } = await import('./stock-helia.ts')
const { createOrbitDB, useAccessController, KeyValue } = await import('@orbitdb/core')
const { followerAccessController } = await import('chainstore/orbitdb-access')

const { dir } = JSON.parse(process.argv[2])
const rejections = []
useAccessController(followerAccessController({ onReject: r => rejections.push(r) }))

const { helia, stop: stopHelia } = await stockHelia(dir)
const orbitdb = await createOrbitDB({ ipfs: helia, directory: join(dir, 'orbitdb') })

const dbs = {}
/** Errors of each database's head exchange (a head that did not decode lands here). */
const syncErrors = []
/** Head exchanges completed, per database (OrbitDB's 'join' event). */
const joins = []

const entries = async db => {
  const out = []
  for await (const e of db.log.iterator()) out.push({ hash: e.hash, payload: e.payload, identity: e.identity })
  return out
}

const ops = {
  async open ({ peers, addresses }) {
    for (const peer of peers) await helia.libp2p.dial(multiaddr(peer))
    for (const [name, address] of Object.entries(addresses)) {
      // chainstore records `events` in every manifest; validators and reputation are key-value logs
      const db = await orbitdb.open(address, { sync: false, ...(name === 'chain' ? {} : { Database: KeyValue() }) })
      db.events.on('error', err => syncErrors.push({ database: name, message: String(err?.message ?? err) }))
      db.events.on('join', (peerId, heads) => joins.push({ database: name, peer: String(peerId), heads: heads.length, at: Date.now() }))
      await db.sync.start()
      dbs[name] = db
    }
    return { identity: orbitdb.identity.id, peerId: helia.libp2p.peerId.toString() }
  },
  async state () {
    const out = {}
    for (const [name, db] of Object.entries(dbs)) {
      out[name] = {
        heads: (await db.log.heads()).map(e => e.hash),
        entries: await entries(db),
        ...(name === 'chain' ? {} : { all: await db.all() })
      }
    }
    return { ...out, syncErrors, joins, rejections, loaded: [...loaded].sort() }
  },
  /** Tries one append on each database; what each threw. */
  async write () {
    const me = orbitdb.identity.id
    const attempt = async fn => { try { await fn(); return null } catch (err) { return String(err.message) } }
    return {
      chain: await attempt(() => dbs.chain.add({ v: 1, blocks: [{ cid: 'bafy-forged', height: 1e6, parent: null, weight: 1, finalized: true, txCount: 0 }] })),
      validators: await attempt(() => dbs.validators.put('stock', { stake: '1', status: 'active', lastSeen: 1, score: 1 })),
      reputation: await attempt(() => dbs.reputation.put(`${me}/someone`, { good: 1, bad: 0, at: Date.now() }))
    }
  },
  async stop () {
    await orbitdb.stop()
    await stopHelia()
    setImmediate(() => process.exit(0))
  }
}

process.on('message', async ({ id, op, args }) => {
  try {
    process.send({ id, ok: true, result: await ops[op](args ?? {}) })
  } catch (err) {
    process.send({ id, ok: false, error: { name: err?.name, message: String(err?.message ?? err) } })
  }
})
process.send({ ready: true })
