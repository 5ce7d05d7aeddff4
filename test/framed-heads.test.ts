import { streamPair } from '@libp2p/utils'
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { PeerMisbehavedError } from '../src/replication/errors.ts'
import { decodeFrames, encodeFrame, frameStream } from '../src/replication/framed-heads.ts'

async function * chunks (bytes: Uint8Array, cuts: number[]): AsyncGenerator<Uint8Array> {
  let from = 0
  for (const c of [...cuts, bytes.length]) { yield bytes.subarray(from, c); from = c }
}
async function all (source: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for await (const f of source) out.push(f)
  return out
}
const concat = (parts: Uint8Array[]): Uint8Array => Uint8Array.from(parts.flatMap(p => [...p]))

describe('framed head exchange (OrbitDB heads over a byte stream)', () => {
  // three heads: empty, small, and one whose length needs a 2-byte varint
  const heads = [new Uint8Array(0), new Uint8Array(randomBytes(100)), new Uint8Array(randomBytes(300))]
  const wire = concat(heads.map(encodeFrame))

  it('yields every frame whole wherever the stream cuts the bytes: all in one chunk, or split at any offset', async () => {
    expect(await all(decodeFrames(chunks(wire, []), 'p', 1024))).toEqual(heads)
    for (let cut = 1; cut < wire.length; cut++) {
      expect(await all(decodeFrames(chunks(wire, [cut]), 'p', 1024)), `cut at ${cut}`).toEqual(heads)
    }
    const byteByByte = Array.from({ length: wire.length - 1 }, (_, i) => i + 1)
    expect(await all(decodeFrames(chunks(wire, byteByByte), 'p', 1024))).toEqual(heads)
  })

  it('refuses a frame over the bound, an over-long length and a stream that ends inside a frame, with PeerMisbehavedError', async () => {
    await expect(all(decodeFrames(chunks(encodeFrame(randomBytes(2000)), []), 'p', 1024))).rejects.toThrow(PeerMisbehavedError)
    await expect(all(decodeFrames(chunks(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x01]), []), 'p', 1 << 30))).rejects.toThrow(/varint/)
    await expect(all(decodeFrames(chunks(wire.subarray(0, wire.length - 1), []), 'p', 1024))).rejects.toThrow(/ended inside a frame/)
  })

  it('over a real stream pair: heads sent back to back arrive one by one, as OrbitDB reads them', async () => {
    const [a, b] = await streamPair({ delay: 0 })
    const sender = frameStream(a as any, 'b')
    const receiver = frameStream(b as any, 'a')
    const received = (async () => {
      const out: Uint8Array[] = []
      for await (const value of receiver as any) out.push((value as Uint8Array).subarray())
      return out
    })()
    for (const h of heads) sender.send(h) // OrbitDB does not await between sends
    await sender.close()
    expect(await received).toEqual(heads)
    await receiver.close()
  })
})
