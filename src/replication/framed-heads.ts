import type { Helia } from 'helia'
import type { Libp2p, Stream } from '@libp2p/interface'
import { MAX_ENTRY_BYTES } from './protocol.ts'
import { PeerMisbehavedError } from './errors.ts'

/**
 * Message framing for OrbitDB's head exchange.
 *
 * OrbitDB 4's sync (src/sync.js) sends each head entry with one
 * `stream.send(bytes)` and decodes every chunk it reads as one entry. A
 * libp2p 3 stream is a byte stream: two heads sent back to back can arrive as
 * one chunk, a large head as two. Either fails `Entry.decode` ("CBOR decode
 * error: too many terminals"), the whole exchange is dropped and OrbitDB does
 * not ask that peer again. The validators log, written by several peers at
 * once, usually has several heads, so a peer reconnecting after a partition
 * often did not see concurrent writes until the next write or anti-entropy
 * (the partition fault test measured 11-27 s to converge).
 *
 * OrbitDB reaches libp2p through the `ipfs` object it is given, so the
 * replicator gives it `withFramedHeads(helia)`: the same node, but its
 * head-exchange streams carry each `send` as one unsigned-varint
 * length-prefixed frame and yield whole frames to OrbitDB. The protocol gets
 * its own name (`/chainstore/lp` before OrbitDB's), so a node without
 * framing and one with it never mix their bytes: they refuse each other's
 * head exchange, which OrbitDB skips.
 */

/** Prefix of the framed head-exchange protocols. */
export const FRAMED_PREFIX = '/chainstore/lp'
const ORBITDB_HEADS = '/orbitdb/heads/'
/** Bytes of the longest varint accepted: 4 bytes cover lengths up to 2^28. */
const MAX_VARINT_BYTES = 4

const framed = (protocol: string): string => `${FRAMED_PREFIX}${protocol}`
const isHeads = (protocol: unknown): protocol is string => typeof protocol === 'string' && protocol.startsWith(ORBITDB_HEADS)

/** One frame: the unsigned varint of the length, then the bytes. */
export function encodeFrame (bytes: Uint8Array): Uint8Array {
  const head: number[] = []
  let n = bytes.length
  while (n >= 0x80) { head.push((n & 0x7f) | 0x80); n = Math.floor(n / 128) }
  head.push(n)
  const out = new Uint8Array(head.length + bytes.length)
  out.set(head, 0)
  out.set(bytes, head.length)
  return out
}

/**
 * Whole frames from a byte source, however the bytes were chunked. A frame
 * longer than `maxBytes`, a varint longer than 4 bytes or bytes left over at
 * the end throw PeerMisbehavedError.
 */
export async function * decodeFrames (source: AsyncIterable<Uint8Array | { subarray: () => Uint8Array }>, peer: string, maxBytes: number): AsyncGenerator<Uint8Array> {
  let buf: Uint8Array = new Uint8Array(0)
  for await (const chunk of source) {
    const bytes = chunk.subarray()
    if (buf.length === 0) buf = bytes
    else { const joined = new Uint8Array(buf.length + bytes.length); joined.set(buf, 0); joined.set(bytes, buf.length); buf = joined }
    for (;;) {
      let length = 0
      let header = 0
      for (let i = 0; i < buf.length; i++) {
        if (i === MAX_VARINT_BYTES) throw new PeerMisbehavedError(peer, `head exchange frame length is longer than ${MAX_VARINT_BYTES} varint bytes`)
        length += (buf[i] & 0x7f) * 2 ** (7 * i)
        if ((buf[i] & 0x80) === 0) { header = i + 1; break }
      }
      if (header === 0) break // the length is not all here yet
      if (length > maxBytes) throw new PeerMisbehavedError(peer, `head exchange frame of ${length} bytes, more than ${maxBytes}`)
      if (buf.length < header + length) break
      yield buf.slice(header, header + length)
      buf = buf.subarray(header + length)
    }
  }
  if (buf.length > 0) throw new PeerMisbehavedError(peer, `head exchange ended inside a frame (${buf.length} bytes left)`)
}

/**
 * `target` with some properties replaced; every other property is the
 * target's own, methods bound to it (libp2p and Helia objects keep private
 * fields, which a method called on the proxy could not reach).
 */
function overlay<T extends object> (target: T, own: Record<PropertyKey, unknown>): T {
  return new Proxy(target, {
    get (t, prop) {
      if (Object.hasOwn(own, prop)) return own[prop]
      const value = Reflect.get(t, prop, t)
      return typeof value === 'function' ? value.bind(t) : value
    }
  })
}

/** The stream as OrbitDB sees it: `send` writes a frame, iteration yields whole frames. */
export function frameStream (stream: Stream, peer: string): Stream {
  return overlay(stream, {
    send: (bytes: Uint8Array) => stream.send(encodeFrame(bytes)),
    [Symbol.asyncIterator]: () => decodeFrames(stream, peer, MAX_ENTRY_BYTES)[Symbol.asyncIterator]()
  })
}

/** The Helia node to give OrbitDB: the same node, its libp2p with the head-exchange protocols framed and renamed. */
export function withFramedHeads<T extends Helia & { libp2p: Libp2p }> (helia: T): T {
  const libp2p = helia.libp2p
  const renamed = (protocols: string | string[]): string[] => [protocols].flat().map(p => isHeads(p) ? framed(p) : p)
  const heads = (protocols: string | string[]): boolean => [protocols].flat().some(isHeads)
  return overlay(helia, {
    libp2p: overlay(libp2p, {
      handle: async (protocols: string | string[], handler: (stream: Stream, connection: any) => void | Promise<void>, options?: any) => {
        const framedHandler = heads(protocols) ? (stream: Stream, connection: any) => handler(frameStream(stream, String(connection?.remotePeer)), connection) : handler
        await libp2p.handle(renamed(protocols), framedHandler as any, options)
      },
      unhandle: async (protocols: string | string[], options?: any) => { await libp2p.unhandle(renamed(protocols), options) },
      dialProtocol: async (peer: any, protocols: string | string[], options?: any) => {
        const stream = await libp2p.dialProtocol(peer, renamed(protocols), options)
        return heads(protocols) ? frameStream(stream, String(peer)) : stream
      }
    })
  })
}
