import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { PeerProcess } from '../src/devnet/controller.ts'
import { identityIdFromSeed } from '../src/replication/keys.ts'
import { ACK_PROTOCOL, BLOCKS_PROTOCOL, LOG_PROTOCOL } from '../src/replication/protocol.ts'
import type { ChainStoreConfigInput } from '../src/index.ts'
import { usePeerProcesses } from './helpers/peers.ts'
import { until } from './helpers/wait.ts'

// Real peers, each in its own process, on 127.0.0.1 only.

const env = usePeerProcesses('chainstore-repl-')

const WRITERS = ['writer-1', 'writer-2']

function config (name: string, extra: ChainStoreConfigInput['network'] = {}): ChainStoreConfigInput {
  return {
    dataDir: join(env.dir, name),
    logLevel: 'error',
    network: { enabled: true, seed: name, writers: WRITERS.map(identityIdFromSeed), intervalMs: 500, quorumTimeoutMs: 3_000, fetchTimeoutMs: 3_000, ...extra }
  }
}

async function start (name: string, extra: ChainStoreConfigInput['network'] = {}, options: { byzantine?: 'wrong-bytes' } = {}): Promise<PeerProcess> {
  const p = await PeerProcess.start(config(name, extra), options)
  env.peers.push(p)
  return p
}

async function addrOf (p: PeerProcess): Promise<string> {
  return (await p.call('info')).addresses[0]
}


async function sameChain (list: PeerProcess[]): Promise<boolean> {
  const heads = await Promise.all(list.map(async p => await p.call('head')))
  if (heads.some(h => h == null || h.cid !== heads[0].cid)) return false
  const chains = await Promise.all(list.map(async p => await p.call('canonical', { from: 0, to: heads[0].height })))
  return chains.every(c => c.join() === chains[0].join())
}

describe('replication between peer processes', () => {
  it('three peers converge on one canonical head, validator state and reputation after concurrent writes from two writers, including two blocks at the same height', async () => {
    const w1 = await start('writer-1')
    const a1 = await addrOf(w1)
    const w2 = await start('writer-2', { peers: [a1] })
    const r3 = await start('reader-3', { peers: [a1, await addrOf(w2)] })
    await w1.call('ingest', { count: 10, txs: 20, seed: 1 })
    await Promise.all([w2.waitForHeight(9, 30_000), r3.waitForHeight(9, 30_000)])

    // both writers extend height 9 with different blocks at once: a fork at height 10
    const reorgs: unknown[] = []
    for (const p of [w1, w2, r3]) p.events.on('reorg', e => reorgs.push(e))
    const [f1, f2] = await Promise.all([
      w1.call('ingest', { count: 1, txs: 20, seed: 101 }),
      w2.call('ingest', { count: 1, txs: 20, seed: 202 }),
      w1.call('putValidator', { id: 'val-a', state: { stake: '100', status: 'active', lastSeen: 1 } }),
      w2.call('putValidator', { id: 'val-b', state: { stake: '200', status: 'jailed', lastSeen: 2 } })
    ])
    expect(f1.stored[0].height).toBe(10)
    expect(f2.stored[0].height).toBe(10)
    expect(f1.stored[0].cid).not.toBe(f2.stored[0].cid)

    await until(async () => await sameChain([w1, w2, r3]), 30_000, 'one canonical chain')
    const head = await r3.call('head')
    // equal weight, nothing finalized: the lowest CID wins
    expect(head.cid).toBe([f1.stored[0].cid, f2.stored[0].cid].sort()[0])
    // the losing writer replaced its own block: a reorg event, the API shows the winner
    expect(reorgs.length).toBeGreaterThanOrEqual(1)
    for (const p of [w1, w2, r3]) expect((await p.call('block', { ref: 10 })).cid).toBe(head.cid)
    // both fork blocks are stored everywhere (the loser on a side branch)
    for (const p of [w1, w2, r3]) {
      expect(await p.call('hasBlock', { cid: f1.stored[0].cid })).toBe(true)
      expect(await p.call('hasBlock', { cid: f2.stored[0].cid })).toBe(true)
    }

    // the next block on the winner settles every peer on the longer chain
    const winner = head.cid === f1.stored[0].cid ? w1 : w2
    await winner.call('ingest', { count: 5, txs: 20, seed: 7 })
    await until(async () => await sameChain([w1, w2, r3]), 30_000, 'chain after the fork')
    expect((await r3.call('head')).height).toBe(15)

    await until(async () => {
      const v = await Promise.all([w1, w2, r3].map(async p => JSON.stringify(await p.call('validators'))))
      return v[0] === v[1] && v[1] === v[2] && v[0].includes('val-a') && v[0].includes('val-b')
    }, 30_000, 'validator state')
    // every peer observed good blocks from someone; the aggregates replicate and agree
    await until(async () => {
      const r = await Promise.all([w1, w2, r3].map(async p => JSON.stringify(await p.call('reputation'))))
      return r[0] === r[1] && r[1] === r[2] && r[0] !== '[]'
    }, 30_000, 'reputation')
  })

  it('a late joiner syncs a 1,000-block chain and then serves reads', async () => {
    const w1 = await start('writer-1')
    await w1.call('ingest', { count: 1000, txs: 10, batch: 50, seed: 3 })
    const late = await start('late-2', { peers: [await addrOf(w1)] })
    await late.waitForHeight(999, 120_000)
    expect(await sameChain([w1, late])).toBe(true)
    const [a, b] = await Promise.all([w1.call('block', { ref: 500 }), late.call('block', { ref: 500 })])
    expect(b).toEqual(a)
    // a third peer can now sync from the late joiner alone
    const third = await start('third-3', { peers: [await addrOf(late)] })
    await third.waitForHeight(999, 120_000)
    expect(await sameChain([w1, late, third])).toBe(true)
    // each block was fetched once
    for (const p of [late, third]) {
      const s = await p.call('stats')
      expect({ fetched: s.blocksFetched, twice: s.duplicateFetches }).toEqual({ fetched: 1000, twice: 0 })
    }
  })

  it('never fetches a block twice: sync rounds and replica confirmations racing for the same blocks fetch each once', async () => {
    const r2 = await start('replica-2')
    const r3 = await start('replica-3', { peers: [await addrOf(r2)] })
    const replicas = [(await r2.call('info')).peerId, (await r3.call('info')).peerId]
    // the writer's replication queue asks both replicas to confirm every block while their sync rounds fetch the same blocks
    const w1 = await start('writer-1', { peers: [await addrOf(r2), await addrOf(r3)], replicas })
    await w1.call('ingest', { count: 300, txs: 10, batch: 10, seed: 11 })
    await Promise.all([r2.waitForHeight(299, 60_000), r3.waitForHeight(299, 60_000)])
    await until(async () => (await w1.call('queue')).length === 0, 30_000, 'replication queue to drain')
    for (const p of [r2, r3]) {
      await p.call('idle')
      const s = await p.call('stats')
      expect({ fetched: s.blocksFetched, twice: s.duplicateFetches }).toEqual({ fetched: 300, twice: 0 })
    }
  })

  it('a peer stopped during writes catches up after restart, and queued quorum writes complete', async () => {
    const w1Info = { seed: 'writer-1' }
    const r2 = await start('replica-2')
    const r2Info = await r2.call('info')
    const w1 = await start(w1Info.seed, { peers: [r2Info.addresses[0]], replicas: [r2Info.peerId], quorumTimeoutMs: 1_500 })
    await w1.call('ingest', { count: 20, txs: 10, seed: 5 })
    await r2.waitForHeight(19, 30_000)

    r2.kill('SIGKILL')
    await r2.exited
    env.peers = env.peers.filter(p => p !== r2)
    const res = await w1.call('ingest', { count: 5, txs: 10, seed: 5, consistency: 'quorum' })
    // every quorum write failed with a typed error naming who confirmed (nobody), and stayed stored
    expect(res.errors.length).toBe(5)
    expect(res.errors[0].name).toBe('QuorumNotReachedError')
    expect(res.errors[0].confirmed).toEqual([])
    expect((await w1.call('head')).height).toBe(24)
    const queued = await w1.call('queue')
    expect(queued.map((q: any) => q.height)).toEqual(expect.arrayContaining([20, 21, 22, 23, 24]))

    // same data dir and identity: the restarted replica catches up and the queue drains
    const back = await PeerProcess.start({ ...config('replica-2'), network: { ...config('replica-2').network, peers: [(await w1.call('info')).addresses[0]] } })
    env.peers.push(back)
    await back.waitForHeight(24, 60_000)
    await until(async () => (await w1.call('queue')).length === 0, 30_000, 'replication queue to drain')
    expect(await sameChain([w1, back])).toBe(true)
    // and a quorum write now succeeds
    const ok = await w1.call('ingest', { count: 1, txs: 10, seed: 5, consistency: 'quorum' })
    expect(ok.errors).toEqual([])
    const all = await w1.call('ingest', { count: 2, txs: 10, seed: 5, consistency: 'all' })
    expect(all.errors).toEqual([])
    // `all` returned after the replica confirmed: it holds the blocks already
    for (const b of all.stored) expect(await back.call('hasBlock', { cid: b.cid })).toBe(true)
    // the 8 blocks it lacked came once each, whether a sync round or a replica confirmation fetched them
    await back.call('idle')
    const s = await back.call('stats')
    expect({ fetched: s.blocksFetched, twice: s.duplicateFetches }).toEqual({ fetched: 8, twice: 0 })
  })

  it('refuses a writer outside the validator set and a forged identity on every honest replica and counts them', async () => {
    const w1 = await start('writer-1')
    const a1 = await addrOf(w1)
    const r2 = await start('reader-2', { peers: [a1] })
    await w1.call('ingest', { count: 3, txs: 5, seed: 9 })
    await r2.waitForHeight(2, 30_000)
    await w1.call('putValidator', { id: 'val-a', state: { stake: '100', status: 'active', lastSeen: 1 } })
    await until(async () => (await r2.call('validators')).length === 1, 30_000, 'validator replicated')
    const outsider = await start('outsider-3', { peers: [a1, await addrOf(r2)] })
    const { databases } = await w1.call('info')
    // a forged identity first (a refused entry costs the sender reputation,
    // and a low score gets it disconnected): an entry naming writer-1's
    // identity, signed with the outsider's own key, re-sent every 2 s (with a
    // new lastSeen, so never a duplicate) until pubsub has delivered it
    const [vHead] = await w1.call('headEntries', { database: 'validators' })
    let sent = 0
    await until(async () => {
      if (sent++ % 10 === 0) {
        const forged = { op: 'PUT', key: 'val-a', value: { stake: '999', status: 'jailed', lastSeen: 1 + sent } }
        await outsider.call('forgeIdentity', { topic: databases.validators, hex: vHead.hex, hash: vHead.hash, payload: forged, key: 'own' }).catch(() => {})
      }
      const s = await Promise.all([w1.call('stats'), r2.call('stats')])
      return s.every(x => x.rejectedByReason['forged-identity'] >= 1)
    }, 30_000, 'forged identity refused on both honest peers')
    for (const p of [w1, r2]) expect(await p.call('validators')).toEqual([{ id: 'val-a', state: { stake: '100', status: 'active', lastSeen: 1 } }])
    await outsider.call('forgeAnnouncement', { address: databases.chain, height: 3 })
    await until(async () => {
      const s = await Promise.all([w1.call('stats'), r2.call('stats')])
      return s.every(x => x.rejectedByReason['not-a-writer'] >= 1)
    }, 30_000, 'rejections counted on both honest peers')
    // nothing of it reached the fold or the chain
    for (const p of [w1, r2]) expect((await p.call('head')).height).toBe(2)
    // and the peer that sent it lost reputation on the honest peers
    const outsiderId = (await outsider.call('info')).peerId
    await until(async () => {
      const scores = await Promise.all([w1.call('reputation'), r2.call('reputation')])
      return scores.every(list => (list.find((x: any) => x.peer === outsiderId)?.score ?? 1) < 1)
    }, 30_000, 'outsider charged')
    await w1.call('ingest', { count: 2, txs: 5, seed: 9 })
    await r2.waitForHeight(4, 30_000)
    expect(await sameChain([w1, r2])).toBe(true)
  })

  it('anti-entropy: an entry no pubsub message or join carried reaches a connected peer through the head poll', async () => {
    const w1 = await start('writer-1')
    const r2 = await start('reader-2', { peers: [await addrOf(w1)] })
    await w1.call('putValidator', { id: 'val-a', state: { stake: '100', status: 'active', lastSeen: 1 } })
    await until(async () => (await r2.call('validators')).length === 1, 30_000, 'validator replicated')
    // appended to writer-1's log without a pubsub message: only the head poll can tell reader-2
    const state = { stake: '200', status: 'active', lastSeen: 2 }
    await w1.call('appendUnpublished', { database: 'validators', payload: { op: 'PUT', key: 'val-b', value: state } })
    await until(async () => (await r2.call('validators')).some((v: any) => v.id === 'val-b'), 30_000, 'unpublished entry reached reader-2')
    expect((await r2.call('validators')).find((v: any) => v.id === 'val-b').state).toEqual(state)
    expect((await r2.call('stats')).resyncs).toBeGreaterThanOrEqual(1)
  })

  it('detects a peer serving wrong bytes, refetches elsewhere and lowers its reputation', async () => {
    const w1 = await start('writer-1')
    const a1 = await addrOf(w1)
    const bad = await start('byzantine-2', { peers: [a1] }, { byzantine: 'wrong-bytes' })
    await w1.call('ingest', { count: 20, txs: 20, seed: 11 })
    await bad.waitForHeight(19, 30_000)
    const badInfo = await bad.call('info')
    // the newcomer knows only the byzantine peer at first
    const victim = await start('victim-3', { peers: [badInfo.addresses[0]] })
    await until(async () => (await victim.call('stats')).misbehaving >= 1, 30_000, 'misbehaviour detected')
    await victim.call('dial', { addr: a1 })
    await victim.waitForHeight(19, 60_000)
    expect(await sameChain([w1, victim])).toBe(true)
    const scores = await victim.call('reputation')
    const badScore = scores.find((s: any) => s.peer === badInfo.peerId)
    expect(badScore.score).toBeLessThan(0.5)
    const goodId = (await w1.call('info')).peerId
    const goodScore = scores.find((s: any) => s.peer === goodId)
    expect(goodScore == null || goodScore.score > badScore.score).toBe(true)
    // the lowest-scored peer is disconnected and not dialled again
    await until(async () => !(await victim.call('peers')).some((p: any) => p.peerId === badInfo.peerId), 30_000, 'byzantine peer disconnected')
  })

  it('reads a block that no peer announced by CID from a connected peer, and gives up on unknown CIDs at the timeout', async () => {
    const w1 = await start('writer-1')
    const r2 = await start('reader-2', { peers: [await addrOf(w1)] })
    const cid = await w1.call('putBytes', { hex: Buffer.from('a blob nobody announced').toString('hex') })
    expect(await r2.call('getBytes', { cid, timeoutMs: 10_000 })).toBe(23)
    const unknown = 'bafkreigdmqpykrgxyaxtlafqpqhzrb7qy2rh75nldvfd4tucqmqqme5yje'
    const t0 = Date.now()
    await expect(r2.call('getBytes', { cid: unknown, timeoutMs: 1_000 })).rejects.toMatchObject({ remoteName: 'BlockNotFoundError' })
    expect(Date.now() - t0).toBeLessThan(8_000)
  })

  it('answers bad input on its protocols with an error and keeps running', async () => {
    const w1 = await start('writer-1')
    await w1.call('ingest', { count: 2, txs: 5, seed: 13 })
    const a1 = await addrOf(w1)
    const probe = await start('prober-2', { peers: [a1] })
    const garbage = await probe.call('rawRequest', { addr: a1, protocol: BLOCKS_PROTOCOL, hex: 'deadbeef' })
    expect(garbage.reply ?? garbage.error).toBeTruthy()
    if (garbage.reply != null) expect(garbage.reply.slice(0, 2)).toBe('03') // error frame
    const oversized = await probe.call('rawRequest', { addr: a1, protocol: ACK_PROTOCOL, hex: 'ab', repeat: 2 * 1024 * 1024 })
    expect(oversized.error ?? oversized.reply).toBeTruthy()
    const notCids = Buffer.from(dagCbor.encode({ want: [{ x: 1 }] })).toString('hex')
    const notCidsReply = await probe.call('rawRequest', { addr: a1, protocol: BLOCKS_PROTOCOL, hex: notCids })
    expect(notCidsReply.reply.slice(0, 2)).toBe('03')
    // unknown CIDs: a missing frame, then the end frame
    const missingCid = CID.parse('bafyreigdmqpykrgxyaxtlafqpqhzrb7qy2rh75nldvfd4tucqmqqme5yje')
    const missing = await probe.call('rawRequest', { addr: a1, protocol: BLOCKS_PROTOCOL, hex: Buffer.from(dagCbor.encode({ want: [missingCid] })).toString('hex') })
    expect(missing.reply.slice(0, 2)).toBe('01')
    // the log protocol: garbage gets an error frame, a request streams the log and ends
    const logGarbage = await probe.call('rawRequest', { addr: a1, protocol: LOG_PROTOCOL, hex: 'deadbeef' })
    expect(logGarbage.reply.slice(0, 2)).toBe('03')
    const logOk = await probe.call('rawRequest', { addr: a1, protocol: LOG_PROTOCOL, hex: Buffer.from(dagCbor.encode({ log: 'chain' })).toString('hex') })
    expect(logOk.reply.slice(0, 2)).toBe('00') // first entry block
    // the peer still serves and writes
    await w1.call('ingest', { count: 1, txs: 5, seed: 13 })
    expect((await w1.call('head')).height).toBe(2)
    await probe.waitForHeight(2, 30_000)
  })
})
