import { afterEach, describe, expect, it } from 'vitest'
import { QuorumNotReachedError, NetworkDisabledError, identityIdFromSeed } from '../src/index.ts'
import { openTestStore } from './helpers/store.ts'

describe('announcements survive a stop between acknowledgement and announcement', () => {
  let cleanup: (() => Promise<void>) | undefined
  afterEach(async () => { await cleanup?.(); cleanup = undefined })

  it('announces at start-up the blocks stored while replication was not running', async () => {
    const t = await openTestStore()
    cleanup = t.cleanup
    await t.store.storeBlocks(t.chain.take(6, t.store.config.limits))
    await expect(t.store.storeBlock(t.chain.next(t.store.config.limits), { consistency: 'quorum' })).rejects.toThrow(NetworkDisabledError)
    await t.store.stop()
    const network = { enabled: true, seed: 'solo', writers: [identityIdFromSeed('solo')] }
    const node = await t.reopen({ network })
    const r = node.replication!
    await r.flushAnnouncements()
    expect(r.stats.announced).toBe(6)
    expect(r.fold.tip()?.cid).toBe(node.head()!.cid.toString())
    // `all` with no replica connected has nothing to wait for; `quorum` of a named absent replica times out, typed, and stays stored
    await node.stop()
    const named = await t.reopen({ network: { ...network, replicas: ['12D3KooWENaxcFXBVjSUrrydcw7DWQtZVCXuiSZMKQfmSgs2fdQx'], quorumTimeoutMs: 300 } })
    expect(named.replication!.stats.announced).toBe(0) // nothing left to announce after a clean start
    const block = t.chain.resume(named.head()!).next(named.config.limits)
    const err = await named.storeBlock(block, { consistency: 'quorum' }).catch(e => e)
    expect(err).toBeInstanceOf(QuorumNotReachedError)
    expect(err.confirmed).toEqual([])
    expect(named.head()!.height).toBe(block.height)
    expect((await named.replication!.queue()).map(q => q.height)).toContain(block.height)
  })
})
