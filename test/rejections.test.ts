import { describe, expect, it } from 'vitest'
import { base58btc } from 'multiformats/bases/base58'
import { cidOf } from '../src/codec/cid.ts'
import { Rejections } from '../src/replication/rejections.ts'
import { MAX_ENTRY_SENDERS } from '../src/replication/constants.ts'

/** What Rejections reads of a node: the pubsub service (an EventTarget, as gossipsub is), stats, the peer book's penalize. */
function context () {
  const pubsub = new EventTarget()
  const penalized: Array<[string, string]> = []
  const stats = { rejected: 0, rejectedByReason: {} as Record<string, number> }
  const ctx = { libp2p: { services: { pubsub } }, stats, peers: { penalize: (peer: string, why: string) => { penalized.push([peer, why]) } }, peerId: () => 'self' }
  return { rejections: new Rejections(ctx as any), pubsub, penalized, stats }
}

function gossip (pubsub: EventTarget, data: Uint8Array, from: string): void {
  pubsub.dispatchEvent(new CustomEvent('message', { detail: { topic: 't', data, from: { toString: () => from } } }))
}

const entry = (i: number): Uint8Array => new TextEncoder().encode(`entry ${i}`)
const hashOf = (bytes: Uint8Array): string => cidOf(bytes).toString(base58btc)

describe('Rejections', () => {
  it('charges a refused entry to the peer that gossiped it, and one nobody gossiped to the peer of the join that brought it', () => {
    const { rejections, pubsub, penalized, stats } = context()
    rejections.listen()
    gossip(pubsub, entry(1), 'peer-a')
    gossip(pubsub, entry(2), 'peer-b')
    rejections.rejected({ database: 'chain', reason: 'not-a-writer', hash: hashOf(entry(2)) })
    expect(penalized).toEqual([['peer-b', 'sent entry refused as not-a-writer']])
    rejections.rejected({ database: 'chain', reason: 'forged-identity', hash: hashOf(entry(3)) })
    expect(penalized).toHaveLength(1)
    rejections.joined('peer-c', [{ hash: hashOf(entry(3)) }])
    expect(penalized[1]).toEqual(['peer-c', 'sent entry refused as forged-identity'])
    expect(stats.rejected).toBe(2)
    expect(rejections.refused(hashOf(entry(3)))).toBe(true)
    // a hash that is no CID at all is simply not attributed
    rejections.rejected({ database: 'chain', reason: 'not-a-writer', hash: 'not a cid' })
    expect(penalized).toHaveLength(2)
    rejections.stop()
  })

  it('keeps the last senders in memory sized at start: an entry gossiped long ago is no longer attributed', () => {
    const { rejections, pubsub, penalized } = context()
    rejections.listen()
    gossip(pubsub, entry(0), 'early')
    for (let i = 1; i <= MAX_ENTRY_SENDERS; i++) gossip(pubsub, entry(i), `peer-${i % 7}`)
    rejections.rejected({ database: 'chain', reason: 'not-a-writer', hash: hashOf(entry(0)) })
    rejections.rejected({ database: 'chain', reason: 'not-a-writer', hash: hashOf(entry(MAX_ENTRY_SENDERS)) })
    expect(penalized).toEqual([[`peer-${MAX_ENTRY_SENDERS % 7}`, 'sent entry refused as not-a-writer']])
    rejections.stop()
  })
})
