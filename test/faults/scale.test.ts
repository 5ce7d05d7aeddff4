/**
 * Many peers, bounded connections (issue 17): SCALE_PEERS peer processes
 * (default 8) on 127.0.0.1, each with at most SCALE_MAX_CONNECTIONS
 * connections (default 4), whose profiles name only bootstrap peers (the
 * writer and the peer started before them), never the whole network. Peers
 * find the others through discovery (addresses announced on the network's
 * gossipsub). All must converge on the writer's head and validator state
 * with no peer over its connection limit; then the writer stops and a late
 * joiner, bootstrapped from one reader only, syncs everything from
 * non-writers.
 *
 *   SCALE_PEERS, SCALE_MAX_CONNECTIONS  (defaults 8 and 4)
 *   SCALE_DEBUG=<prefix>                 each peer logs at debug level to <prefix>-<peer>.log
 */
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PeerProcess } from '../../src/devnet/controller.ts'
import type { ChainStoreConfigInput } from '../../src/index.ts'
import { identityIdFromSeed } from '../../src/replication/keys.ts'
import { tempDir } from '../helpers/store.ts'
import { eventually } from '../helpers/wait.ts'

const PEERS = Math.max(4, Number(process.env.SCALE_PEERS ?? 8))
const MAX_CONNECTIONS = Math.max(2, Number(process.env.SCALE_MAX_CONNECTIONS ?? 4))
const BLOCKS = 30
const WRITERS = [identityIdFromSeed('peer-1')]

let dir: string
let cleanup: () => Promise<void>
const running: PeerProcess[] = []

beforeAll(async () => { ({ dir, cleanup } = await tempDir('chainstore-scale-')) })
afterAll(async () => {
  await Promise.all(running.map(async p => await p.stop().catch(() => {})))
  await cleanup()
})

function config (name: string, bootstrap: string[]): ChainStoreConfigInput {
  return {
    dataDir: join(dir, name),
    logLevel: 'silent',
    network: {
      enabled: true,
      seed: name,
      writers: WRITERS,
      peers: bootstrap,
      maxConnections: MAX_CONNECTIONS,
      minConnections: Math.min(2, MAX_CONNECTIONS),
      intervalMs: 500,
      quorumTimeoutMs: 3_000,
      fetchTimeoutMs: 3_000
    }
  }
}

async function start (name: string, bootstrap: string[]): Promise<{ peer: PeerProcess, addr: string }> {
  const cfg = config(name, bootstrap)
  const dbg = process.env.SCALE_DEBUG
  if (dbg != null) (cfg as any).logLevel = 'debug'
  const peer = await PeerProcess.start(cfg, { stdio: dbg != null ? 'pipe' : 'ignore' })
  if (dbg != null) { const { appendFileSync } = await import('node:fs'); for (const st of [peer.child.stdout, peer.child.stderr]) st?.on('data', (d: Buffer) => { appendFileSync(`${dbg}-${name}.log`, d) }) }
  running.push(peer)
  return { peer, addr: (await peer.call('info')).addresses[0] as string }
}

describe(`${PEERS} peers, at most ${MAX_CONNECTIONS} connections each, bootstrap lists only`, () => {
  it('every peer converges on the head and the validator state within its connection limit; a late joiner syncs from non-writers', async () => {
    const started = Date.now()
    const writer = await start('peer-1', [])
    const peers = [writer]
    for (let i = 2; i <= PEERS; i++) {
      // the writer and the peer started just before: nobody lists the whole network
      const bootstrap = [writer.addr, peers[peers.length - 1].addr].filter((a, j, all) => all.indexOf(a) === j)
      peers.push(await start(`peer-${i}`, bootstrap))
    }
    await writer.peer.call('ingest', { count: BLOCKS, txs: 20, seed: 17, batch: 5 })
    await writer.peer.call('putValidator', { id: 'val-a', state: { stake: '100', status: 'active', lastSeen: 1 } })
    const head = await writer.peer.call('head')
    let most = 0
    const ok = await eventually(async () => {
      const heads = await Promise.all(peers.map(async p => await p.peer.call('head')))
      const validators = await Promise.all(peers.map(async p => await p.peer.call('validators')))
      const connections = await Promise.all(peers.map(async p => (await p.peer.call('connections')).peers as number))
      most = Math.max(most, ...connections)
      return heads.every(h => h?.cid === head.cid) && validators.every(v => v.length === 1)
    }, 240_000, 500)
    expect(ok).toBe(true)
    const converged = Date.now() - started
    const stats = await Promise.all(peers.map(async p => await p.peer.call('connections')))
    // what the writer is directly connected to is a handful, not the network
    expect(stats.every(s => s.peers <= MAX_CONNECTIONS)).toBe(true)
    expect(most).toBeLessThanOrEqual(MAX_CONNECTIONS)
    expect(stats.filter(s => s.known > 0).length).toBeGreaterThan(0)

    // the writer leaves; a late joiner that knows one reader gets everything from readers
    await writer.peer.stop()
    running.splice(running.indexOf(writer.peer), 1)
    const joinerStarted = Date.now()
    const late = await start(`peer-${PEERS + 1}`, [peers[Math.floor(PEERS / 2)].addr])
    await late.peer.waitForHeight(head.height, 120_000)
    const lateAtHeight = Date.now() - joinerStarted
    expect(await eventually(async () => (await late.peer.call('head'))?.cid === head.cid && (await late.peer.call('validators')).length === 1, 60_000, 500)).toBe(true)
    const lateConnections = (await late.peer.call('connections')).peers as number
    // what the joiner's bootstrap peer closed to let it in (0: it had a slot free)
    const bootstrapTrimmed = (await peers[Math.floor(PEERS / 2)].peer.call('connections')).trimmed as number
    expect(lateConnections).toBeLessThanOrEqual(MAX_CONNECTIONS)
    console.log(`scale: ${PEERS} peers (max ${MAX_CONNECTIONS} connections each, most seen ${most}) converged on height ${head.height} + validators in ${converged} ms from the first start; connections ${stats.map(s => s.peers).join(',')}; known by discovery ${stats.map(s => s.known).join(',')}; closed at the limit ${stats.map(s => s.trimmed).join(',')}; late joiner synced from non-writers in ${Date.now() - joinerStarted} ms (the chain in ${lateAtHeight} ms) with ${lateConnections} connections, its bootstrap peer having closed ${bootstrapTrimmed} in all`)
  })
})
