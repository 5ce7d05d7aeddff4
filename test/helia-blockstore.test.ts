/**
 * The store's wrapper of Helia's blockstore: concurrent gets of one CID are
 * one get (a second bitswap want for a CID whose block is arriving can be
 * lost in @helia/bitswap 4, docs/PITFALLS.md), and a waiter outlives a
 * leader whose own caller gave up.
 */
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { describe, expect, it } from 'vitest'
import { withNotFound } from '../src/storage/helia-blockstore.ts'

const bytes = Uint8Array.of(1, 2, 3)
const cid = CID.createV1(raw.code, await sha256.digest(bytes))

/** A blockstore whose gets wait until `release()` (or their signal), counting calls. */
function slowStore (): { store: { get: (cid: CID, o?: { signal?: AbortSignal }) => AsyncGenerator<Uint8Array>, getMany: () => AsyncGenerator<never> }, calls: () => number, release: () => void } {
  let calls = 0
  let release!: () => void
  const released = new Promise<void>(resolve => { release = resolve })
  return {
    store: {
      async * get (_cid, o) {
        calls++
        await new Promise<void>((resolve, reject) => {
          void released.then(resolve)
          o?.signal?.addEventListener('abort', () => { reject(Object.assign(new Error('Want was aborted'), { name: 'AbortError' })) })
        })
        yield bytes
      },
      async * getMany () {}
    },
    calls: () => calls,
    release
  }
}

async function read (it: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  for await (const c of it) chunks.push(c)
  return Buffer.concat(chunks)
}

describe('Helia blockstore wrapper', () => {
  it('gets of one CID in flight at once are one get; each caller gets the bytes', async () => {
    const s = slowStore()
    const bs = withNotFound(s.store)
    const a = read(bs.get(cid))
    const b = read(bs.get(cid))
    await new Promise(resolve => setTimeout(resolve, 10))
    s.release()
    expect([...await a]).toEqual([1, 2, 3])
    expect([...await b]).toEqual([1, 2, 3])
    expect(s.calls()).toBe(1)
    // once done, a later get is a get of its own
    await read(bs.get(cid))
    expect(s.calls()).toBe(2)
  })

  it('a waiter whose leader was aborted by its own caller fetches on its own; the leader sees its abort', async () => {
    const s = slowStore()
    const bs = withNotFound(s.store)
    const leader = new AbortController()
    const a = read(bs.get(cid, { signal: leader.signal }))
    const b = read(bs.get(cid))
    await new Promise(resolve => setTimeout(resolve, 10))
    leader.abort()
    await expect(a).rejects.toThrow(/aborted/)
    s.release()
    expect([...await b]).toEqual([1, 2, 3])
    expect(s.calls()).toBe(2)
  })
})
