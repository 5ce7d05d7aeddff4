import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { PeerProcess } from '../src/devnet/controller.ts'
import { CHECKPOINT_MARGIN, CHECKPOINT_STEP } from '../src/replication/fold.ts'
import { identityIdFromSeed } from '../src/replication/keys.ts'
import type { ChainStoreConfigInput } from '../src/index.ts'
import { usePeerProcesses } from './helpers/peers.ts'
import { until } from './helpers/wait.ts'

// Real peers, each in its own process, on 127.0.0.1 only.

const env = usePeerProcesses('chainstore-fold-')

async function start (name: string, peersList: string[]): Promise<PeerProcess> {
  const config: ChainStoreConfigInput = {
    dataDir: join(env.dir, name),
    logLevel: 'error',
    network: { enabled: true, seed: name, writers: [identityIdFromSeed('writer-1')], peers: peersList, intervalMs: 500, fetchTimeoutMs: 3_000 }
  }
  const p = await PeerProcess.start(config)
  env.peers.push(p)
  return p
}

describe('the chain-index fold on a finalizing chain', () => {
  it('keeps the blocks above a checkpoint below finality on writer and reader, and a new entry does not walk the log back to genesis', async () => {
    const LAG = 16
    const w = await start('writer-1', [])
    const r = await start('reader-2', [(await w.call('info')).addresses[0]])
    // 700 blocks, each write finalizing the block LAG below the head (announced in the chain index)
    for (let i = 0; i < 7; i++) await w.call('ingest', { count: 100, txs: 2, seed: 3, finalityLag: LAG })
    const head = await w.call('head')
    await until(async () => (await r.call('head'))?.cid === head.cid, 60_000, 'the reader at the writer head')
    const bound = LAG + CHECKPOINT_MARGIN + CHECKPOINT_STEP + 8
    for (const p of [w, r]) {
      await until(async () => (await p.call('stats')).foldMemory.checkpoint >= head.height - bound, 20_000, 'the checkpoint to follow finality')
      const { foldMemory } = await p.call('stats')
      expect(foldMemory.fold).toBeLessThanOrEqual(bound)
      // one entry per write at most, plus a few that carried only a finalization
      expect(foldMemory.seen).toBeLessThanOrEqual(bound)
      expect(foldMemory.checkpoint).toBeLessThanOrEqual(head.height - LAG - CHECKPOINT_MARGIN)
    }
    const { announcementsApplied: applied, foldMemory: { walked } } = await r.call('stats')
    // more writes: the reader folds the new entries only (a walk back through
    // pruned entries would fold the old announcements again)
    await w.call('ingest', { count: 20, txs: 2, seed: 3, finalityLag: LAG })
    const head2 = await w.call('head')
    await until(async () => (await r.call('head'))?.cid === head2.cid, 30_000, 'the reader at the new head')
    await until(async () => (await r.call('stats')).announcementsApplied >= applied + 40, 10_000, 'the new announcements folded')
    const after = await r.call('stats')
    // 20 blocks and 20 finalizations, nothing older
    expect(after.announcementsApplied - applied).toBe(40)
    // the walks behind the new entries read a few entries each, not the 700 before them
    expect(after.foldMemory.walked - walked).toBeLessThan(100)
    expect(after.foldMemory.fold).toBeLessThanOrEqual(bound)
    expect((await r.call('canonical', { from: head2.height - 3, to: head2.height })).join()).toBe((await w.call('canonical', { from: head2.height - 3, to: head2.height })).join())
  })
})
