import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { PeerProcess } from '../src/devnet/controller.ts'
import { identityIdFromSeed } from '../src/replication/keys.ts'
import type { ChainStoreConfigInput } from '../src/index.ts'
import { usePeerProcesses } from './helpers/peers.ts'
import { until } from './helpers/wait.ts'

// Real peers, each in its own process, on 127.0.0.1 only.

const env = usePeerProcesses('chainstore-ids-')

async function start (name: string, peersList: string[]): Promise<PeerProcess> {
  const config: ChainStoreConfigInput = {
    dataDir: join(env.dir, name),
    logLevel: 'error',
    // no discovery: each node reaches exactly the peers listed
    network: { enabled: true, seed: name, writers: [identityIdFromSeed('writer-1')], peers: peersList, discovery: false, intervalMs: 300, fetchTimeoutMs: 3_000 }
  }
  const p = await PeerProcess.start(config)
  env.peers.push(p)
  return p
}

describe('identities of the validator set', () => {
  it('reach a node that never connected to the writer before any entry of that writer exists, relayed by a reader; a non-writer identity is not named', async () => {
    const w = await start('writer-1', [])
    const wInfo = await w.call('info')
    const a = await start('reader-a', [wInfo.addresses[0]])
    const aInfo = await a.call('info')
    const b = await start('reader-b', [aInfo.addresses[0]])
    // b never talks to the writer: the identity block can only come from a
    await until(async () => await b.call('holdsBlock', { cid: wInfo.identityHash }), 20_000, 'the writer identity on reader-b')
    const stats = await b.call('stats')
    expect(stats.writerIdentities.hashes).toEqual([wInfo.identityHash])
    expect(stats.announcementsApplied).toBe(0) // no entry of the writer was needed for it
    expect(await w.call('head')).toBeNull()
    const bConnections = await b.call('peers')
    expect(bConnections.map((p: any) => p.peerId)).not.toContain(wInfo.peerId)
    // a reader names only writer identities, never its own
    expect((await a.call('stats')).writerIdentities.hashes).toEqual([wInfo.identityHash])

    // the writer's entries then verify on b with the identity already held
    await w.call('ingest', { count: 5, txs: 5 })
    const head = await w.call('head')
    await until(async () => (await b.call('head'))?.cid === head.cid, 20_000, 'reader-b at the writer head')
  })
})
