import { peerIdFromString } from '@libp2p/peer-id'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { describe, expect, it } from 'vitest'
import type { EncodedBlock } from '../src/codec/encode.ts'
import { Acks } from '../src/replication/acks.ts'
import type { ReplicationContext, SyncPart } from '../src/replication/types.ts'

// The server side of a replica confirmation (`Acks.ensure`) against the sync
// part's contract (src/replication/types.ts SyncPart): the confirmation waits
// for blocks a sync round has listed; after the wait (a long round on a
// loaded host) it fetches those the round has not asked a peer for yet (the
// round then leaves them) and never those the round is asking for right now,
// which would arrive twice. The sync part here keeps real in-flight sets and
// records what the confirmation asks a peer for.

const cidOf = async (n: number): Promise<CID> => {
  const bytes = dagCbor.encode({ n })
  return CID.createV1(dagCbor.code, await sha256.digest(bytes))
}
const PEER = peerIdFromString('12D3KooWL7NWW5WYF9xiLyAwXYDShabRpVUCrNTtgvzuzHr5hN8T')

function setup (fetchTimeoutMs: number): { acks: Acks, held: Set<string>, sync: SyncPart, asked: string[][], fetchingDuringFetch: boolean[] } {
  const held = new Set<string>()
  const asked: string[][] = []
  const fetchingDuringFetch: boolean[] = []
  let landed: Array<() => void> = []
  const sync: SyncPart = {
    landed: async () => { await new Promise<void>(resolve => { landed.push(resolve) }) },
    noteLanded: () => { const wake = landed; landed = []; for (const f of wake) f() },
    schedule: () => {},
    fetching: new Set(),
    requesting: new Set(),
    ackFetching: new Set(),
    takeFetched: () => undefined,
    keepFetched: () => {},
    fetchFrom: async (_peer, want) => {
      asked.push(want.map(String))
      fetchingDuringFetch.push(want.every(c => sync.ackFetching.has(c.toString())))
      // the peer serves them; the import is the chain's (here: they are now held)
      for (const c of want) held.add(c.toString())
      return [] as EncodedBlock[]
    }
  }
  const ctx = {
    chain: { hasBlock: (c: CID) => held.has(c.toString()), importBlocks: async () => {} },
    net: { fetchTimeoutMs },
    stats: { acksServed: 0 },
    fold: { get: () => undefined },
    init: { allowGaps: false },
    sync
  } as unknown as ReplicationContext
  return { acks: new Acks(ctx), held, sync, asked, fetchingDuringFetch }
}

describe('replica confirmations and sync rounds (Acks.ensure)', () => {
  it('leaves a block a sync round is still asking a peer for after the wait to the round: nothing fetched twice, nothing confirmed yet', async () => {
    const { acks, sync, asked } = setup(200)
    const a = await cidOf(1)
    sync.fetching.add(a.toString())
    sync.requesting.add(a.toString())
    const started = Date.now()
    const have = await acks.ensure(PEER, [a], new AbortController().signal)
    expect(Date.now() - started).toBeGreaterThanOrEqual(190)
    expect(have).toEqual([])
    expect(asked).toEqual([])
    expect(sync.ackFetching.size).toBe(0)
  })

  it('confirms a block the round lands during the wait without fetching it', async () => {
    const { acks, held, sync, asked } = setup(5_000)
    const a = await cidOf(2)
    sync.fetching.add(a.toString())
    sync.requesting.add(a.toString())
    setTimeout(() => { held.add(a.toString()); sync.requesting.delete(a.toString()); sync.fetching.delete(a.toString()) }, 100)
    const have = await acks.ensure(PEER, [a], new AbortController().signal)
    expect(have.map(String)).toEqual([a.toString()])
    expect(asked).toEqual([])
  })

  it('confirms a block as soon as a round imports it, while the rest of the round\'s list is still in flight', async () => {
    const { acks, held, sync, asked } = setup(5_000)
    const [a, b] = await Promise.all([cidOf(7), cidOf(8)])
    for (const x of [a, b]) sync.fetching.add(x.toString())
    // the round imports a's chunk and wakes the waiters; b (a later chunk of the same round) stays in flight
    setTimeout(() => { held.add(a.toString()); sync.noteLanded() }, 100)
    const started = Date.now()
    const have = await acks.ensure(PEER, [a], new AbortController().signal)
    expect(Date.now() - started).toBeLessThan(1_000)
    expect(have.map(String)).toEqual([a.toString()])
    expect(asked).toEqual([])
    expect(sync.fetching.has(b.toString())).toBe(true)
  })

  it('after the wait fetches, once, what the round listed but has not asked for yet and what nobody is fetching, marked for the rounds while it does', async () => {
    const { acks, held, sync, asked, fetchingDuringFetch } = setup(200)
    const [a, b, c, d] = await Promise.all([cidOf(3), cidOf(4), cidOf(5), cidOf(6)])
    held.add(c.toString())
    // b: listed by the round and being asked of a peer; d: listed, its chunk not asked for yet
    for (const x of [b, d]) sync.fetching.add(x.toString())
    sync.requesting.add(b.toString())
    const started = Date.now()
    const have = await acks.ensure(PEER, [a, b, c, d], new AbortController().signal)
    expect(Date.now() - started).toBeGreaterThanOrEqual(190)
    expect(asked).toEqual([[a.toString(), d.toString()]])
    expect(fetchingDuringFetch).toEqual([true])
    expect(have.map(String).sort()).toEqual([a.toString(), c.toString(), d.toString()].sort())
    expect(sync.ackFetching.size).toBe(0)
  })
})
