import * as dagCbor from '@ipld/dag-cbor'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { streamPair } from '@libp2p/utils'
import { yamux } from '@libp2p/yamux'
import { Entry } from '@orbitdb/core'
import { createLibp2p, type Libp2p } from 'libp2p'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { afterEach, describe, expect, it } from 'vitest'
import { PeerMisbehavedError } from '../src/replication/errors.ts'
import { FRAMED_PREFIX, withFramedHeads } from '../src/replication/framed-heads.ts'
import { cborItemEnd, decodeEntries, stockStream } from '../src/replication/stock-heads.ts'
import { until } from './helpers/wait.ts'

async function * chunks (bytes: Uint8Array, cuts: number[]): AsyncGenerator<Uint8Array> {
  let from = 0
  for (const c of [...cuts, bytes.length]) { yield bytes.subarray(from, c); from = c }
}
/** Every chunk of a source, as plain Uint8Arrays (libp2p yields Uint8ArrayLists, dag-cbor gives Buffers). */
async function all (source: AsyncIterable<Uint8Array | { subarray: () => Uint8Array }>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for await (const f of source) out.push(new Uint8Array(f.subarray()))
  return out
}
const concat = (parts: Uint8Array[]): Uint8Array => Uint8Array.from(parts.flatMap(p => [...p]))

/** Entry-shaped dag-cbor: maps, strings, byte strings, CID links (tag 42), negative and large integers, floats, null. */
async function entries (): Promise<Uint8Array[]> {
  const link = CID.createV1(dagCbor.code, await sha256.digest(new Uint8Array([1, 2, 3])))
  return [
    dagCbor.encode({ id: 'log', payload: { op: 'PUT', key: 'k', value: { stake: '100', n: -5, big: 2 ** 40, f: 0.5, none: null } }, next: [link], refs: [], clock: { id: 'ab', time: 1 }, v: 2 }),
    dagCbor.encode({ id: 'log', payload: { op: 'ADD', value: 'x'.repeat(300) }, next: [link, link], refs: [link], bytes: new Uint8Array(70_000), v: 2 }),
    dagCbor.encode([])
  ].map(b => new Uint8Array(b))
}

describe('head exchange with stock OrbitDB peers (one entry per chunk)', () => {
  it('cuts a byte stream into whole entries by their CBOR structure, however it was chunked', async () => {
    const items = await entries()
    const wire = concat(items)
    for (const item of items) expect(cborItemEnd(concat([item, new Uint8Array([0xa0])]))).toBe(item.length)
    expect(await all(decodeEntries(chunks(wire, []), 'p', 1 << 20))).toEqual(items)
    for (let cut = 1; cut < wire.length; cut += 997) {
      expect(await all(decodeEntries(chunks(wire, [cut]), 'p', 1 << 20)), `cut at ${cut}`).toEqual(items)
    }
    const small = concat([items[0], items[2], items[0]])
    expect(await all(decodeEntries(chunks(small, Array.from({ length: small.length - 1 }, (_, i) => i + 1)), 'p', 1024))).toEqual([items[0], items[2], items[0]])
  })

  it('refuses what dag-cbor never holds, an entry over the bound and a stream that ends inside an entry, with PeerMisbehavedError', async () => {
    const [a, b] = await entries()
    await expect(all(decodeEntries(chunks(Uint8Array.from([0x9f, 0x01, 0xff]), []), 'p', 1024))).rejects.toThrow(PeerMisbehavedError)
    await expect(all(decodeEntries(chunks(b, [10]), 'p', 1024))).rejects.toThrow(/more than 1024/)
    await expect(all(decodeEntries(chunks(Uint8Array.from([0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), []), 'p', 1024))).rejects.toThrow(PeerMisbehavedError)
    await expect(all(decodeEntries(chunks(a.subarray(0, a.length - 1), []), 'p', 1024))).rejects.toThrow(/ended inside an entry/)
  })

  it('stock OrbitDB reads each chunk as one entry: heads sent back to back before the reader starts are one chunk it cannot decode (the upstream bug); cut by structure they decode', async () => {
    const [a, , c] = await entries()
    const [sender, receiver] = await streamPair({ delay: 0 })
    sender.send(a)
    sender.send(c)
    // both heads arrived before the reader starts (a busy receiver, or heads that
    // came with multistream-select's answer, which it hands back as one piece)
    await until(async () => receiver.readBufferLength === a.length + c.length, 10_000, 'the bytes to arrive')
    const first = await receiver[Symbol.asyncIterator]().next()
    const chunk = new Uint8Array(first.value.subarray())
    expect(chunk).toEqual(concat([a, c]))
    // what @orbitdb/core src/sync.js receiveHeads does with each chunk
    await expect(Entry.decode(chunk)).rejects.toThrow(/CBOR decode error/)
    expect(await all(decodeEntries(chunks(chunk, []), 'p', 1 << 20))).toEqual([a, c])
    sender.abort(new Error('done'))
    receiver.abort(new Error('done'))
  })

  it('toward a stock peer the first head goes on the exchange stream, each further one alone through sendAlone', async () => {
    const heads = await entries()
    const [a, b] = await streamPair({ delay: 0 })
    const alone: Uint8Array[] = []
    const toStock = stockStream(a, 'b', 1 << 20, bytes => { alone.push(bytes) })
    const received = all(b as any)
    for (const h of heads) toStock.send(h) // OrbitDB does not await between sends
    await toStock.close()
    expect(concat(await received)).toEqual(heads[0])
    expect(alone).toEqual(heads.slice(1))
  })
})

describe('negotiated head exchange between real libp2p nodes on 127.0.0.1', () => {
  const nodes: Libp2p[] = []
  afterEach(async () => { await Promise.all(nodes.splice(0).map(async n => await n.stop())) })
  const node = async (): Promise<Libp2p> => {
    const n = await createLibp2p({ addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] })
    nodes.push(n)
    return n
  }
  const PROTOCOL = '/orbitdb/heads/orbitdb/zdpuTest'

  it('chainstore peers pick the framed protocol; a stock peer and a chainstore peer speak the stock one, both ways', async () => {
    const [x, y, stock] = [await node(), await node(), await node()]
    const wrapped = (n: Libp2p) => withFramedHeads({ libp2p: n } as any).libp2p
    const seen: Array<{ at: string, protocol: string, got: Uint8Array[] }> = []
    const serve = (at: string) => async (stream: any, connection: any) => {
      const got = await all(stream)
      seen.push({ at, protocol: stream.protocol ?? connection?.protocol, got })
      await stream.close()
    }
    await wrapped(x).handle(PROTOCOL, serve('x'))
    await stock.handle(PROTOCOL, async (stream: any) => {
      // stock OrbitDB: each chunk one entry
      const got: Uint8Array[] = []
      for await (const v of stream) got.push(new Uint8Array(v.subarray()))
      seen.push({ at: 'stock', protocol: stream.protocol, got })
      await stream.close()
    })
    const [one] = await entries()
    // chainstore → chainstore: framed
    const toX = await wrapped(y).dialProtocol(x.getMultiaddrs()[0], PROTOCOL)
    expect(toX.protocol).toBe(FRAMED_PREFIX + PROTOCOL)
    toX.send(one); toX.send(one)
    await toX.close()
    // stock → chainstore: the stock protocol, entries cut by structure
    const fromStock = await stock.dialProtocol(x.getMultiaddrs()[0], PROTOCOL)
    expect(fromStock.protocol).toBe(PROTOCOL)
    fromStock.send(concat([one, one]))
    await fromStock.close()
    // chainstore → stock: the stock protocol offered second and taken
    const toStock = await wrapped(y).dialProtocol(stock.getMultiaddrs()[0], PROTOCOL)
    expect(toStock.protocol).toBe(PROTOCOL)
    toStock.send(one)
    await toStock.close()
    await until(async () => seen.length === 3, 10_000, 'the three exchanges')
    expect(seen.filter(s => s.at === 'x').map(s => s.got)).toEqual([[one, one], [one, one]])
    expect(seen.find(s => s.at === 'stock')?.got).toEqual([one])
  })
})
