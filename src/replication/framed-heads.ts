import type { Helia } from 'helia'
import type { AbortOptions, Connection, Libp2p, PeerId, Stream, StreamHandlerOptions } from '@libp2p/interface'
import { STOCK_HEAD_TIMEOUT_MS } from './constants.ts'
import { PeerMisbehavedError } from './errors.ts'
import { MAX_ENTRY_BYTES } from './protocol.ts'
import { stockStream } from './stock-heads.ts'

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
 * its own name (`/chainstore/lp` before OrbitDB's), so framed and unframed
 * bytes never meet on one stream; which of the two a stream speaks is
 * negotiated when it opens, so stock OrbitDB peers still exchange heads with
 * chainstore nodes (src/replication/stock-heads.ts).
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

/** What {@link withFramedHeads} reports. */
export interface HeadsOptions {
  /** A head sent alone to a stock peer failed (the exchange itself reports through OrbitDB's 'error' event). */
  onError?: (err: unknown, peer: string) => void
}

/**
 * The Helia node to give OrbitDB: the same node, its libp2p's head exchange
 * negotiated. Each head-exchange protocol OrbitDB handles is registered
 * twice: framed (`/chainstore/lp/orbitdb/heads/…`) and stock
 * (`/orbitdb/heads/…`). A dial offers framed first and stock second
 * (multistream-select picks the first the peer has): chainstore peers keep
 * the framed exchange between themselves, and a stock OrbitDB peer gets what
 * it can read, one head per stream (src/replication/stock-heads.ts).
 */
export function withFramedHeads<T extends Helia & { libp2p: Libp2p }> (helia: T, options: HeadsOptions = {}): T {
  const libp2p = helia.libp2p
  const list = (protocols: string | string[]): string[] => [protocols].flat()
  const withFramed = (protocols: string | string[]): string[] => list(protocols).flatMap(p => isHeads(p) ? [framed(p), p] : [p])
  // a head beyond the first goes to a stock peer on a stream of its own; what the peer sends back there came on the first stream already
  const sendAlone = (peer: PeerId, protocol: string) => (bytes: Uint8Array): void => {
    void (async () => {
      const signal = AbortSignal.timeout(STOCK_HEAD_TIMEOUT_MS)
      const stream = await libp2p.dialProtocol(peer, protocol, { signal })
      const onAbort = (): void => { stream.abort(new Error('head sent alone to a stock OrbitDB peer timed out')) }
      signal.addEventListener('abort', onAbort, { once: true })
      try {
        stream.send(bytes)
        await stream.close({ signal })
        // the peer answers with its heads and closes; they are read and dropped
        for await (const _ of stream) continue
      } finally {
        signal.removeEventListener('abort', onAbort)
      }
    })().catch(err => options.onError?.(err, String(peer)))
  }
  const wrap = (stream: Stream, peer: PeerId, protocol: string): Stream => protocol.startsWith(FRAMED_PREFIX)
    ? frameStream(stream, String(peer))
    : stockStream(stream, String(peer), MAX_ENTRY_BYTES, sendAlone(peer, protocol))
  return overlay(helia, {
    libp2p: overlay(libp2p, {
      handle: async (protocols: string | string[], handler: (stream: Stream, connection: Connection) => void | Promise<void>, opts?: StreamHandlerOptions) => {
        const heads = list(protocols).filter(isHeads)
        const others = list(protocols).filter(p => !isHeads(p))
        if (others.length > 0) await libp2p.handle(others, handler, opts)
        for (const p of heads) {
          await libp2p.handle(framed(p), (stream, connection) => handler(wrap(stream, connection.remotePeer, framed(p)), connection), opts)
          await libp2p.handle(p, (stream, connection) => handler(wrap(stream, connection.remotePeer, p), connection), opts)
        }
      },
      unhandle: async (protocols: string | string[], opts?: AbortOptions) => { await libp2p.unhandle(withFramed(protocols), opts) },
      dialProtocol: async (peer: PeerId, protocols: string | string[], opts?: AbortOptions) => {
        const stream = await libp2p.dialProtocol(peer, withFramed(protocols), opts)
        return isHeads(list(protocols)[0]) ? wrap(stream, peer, stream.protocol ?? '') : stream
      }
    })
  })
}
