import { peerIdFromString } from '@libp2p/peer-id'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { describe, expect, it } from 'vitest'
import type { EncodedBlock } from '../src/codec/encode.ts'
import { Acks } from '../src/replication/acks.ts'
import type { ReplicationContext, SyncPart } from '../src/replication/types.ts'

// The server side of a replica confirmation (`Acks.ensure`) against the sync
// part's contract (src/replication/types.ts SyncPart): blocks a sync round is
// fetching are not fetched a second time by the confirmation, whether the
// round lands them during the wait or is still at it when the wait ends (a
// long round on a loaded host). The sync part here keeps real in-flight sets
// and records what the confirmation asks a peer for.

const cidOf = async (n: number): Promise<CID> => {
  const bytes = dagCbor.encode({ n })
  return CID.createV1(dagCbor.code, await sha256.digest(bytes))
}
const PEER = peerIdFromString('12D3KooWL7NWW5WYF9xiLyAwXYDShabRpVUCrNTtgvzuzHr5hN8T')

function setup (fetchTimeoutMs: number): { acks: Acks, held: Set<string>, sync: SyncPart, asked: string[][], fetchingDuringFetch: boolean[] } {
  const held = new Set<string>()
  const asked: string[][] = []
  const fetchingDuringFetch: boolean[] = []
  const sync: SyncPart = {
    schedule: () => {},
    fetching: new Set(),
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
  it('leaves a block a sync round is still fetching after the wait to the round: nothing fetched twice, nothing confirmed yet', async () => {
    const { acks, sync, asked } = setup(200)
    const a = await cidOf(1)
    sync.fetching.add(a.toString())
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
    setTimeout(() => { held.add(a.toString()); sync.fetching.delete(a.toString()) }, 100)
    const have = await acks.ensure(PEER, [a], new AbortController().signal)
    expect(have.map(String)).toEqual([a.toString()])
    expect(asked).toEqual([])
  })

  it('fetches what nobody is fetching, once, marked for the sync rounds while it does, and only that when others are in flight', async () => {
    const { acks, held, sync, asked, fetchingDuringFetch } = setup(200)
    const [a, b, c] = await Promise.all([cidOf(3), cidOf(4), cidOf(5)])
    held.add(c.toString())
    sync.fetching.add(b.toString())
    const have = await acks.ensure(PEER, [a, b, c], new AbortController().signal)
    expect(asked).toEqual([[a.toString()]])
    expect(fetchingDuringFetch).toEqual([true])
    expect(have.map(String).sort()).toEqual([a.toString(), c.toString()].sort())
    expect(sync.ackFetching.size).toBe(0)
  })
})
