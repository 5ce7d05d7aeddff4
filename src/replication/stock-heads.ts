import type { Stream } from '@libp2p/interface'
import { PeerMisbehavedError } from './errors.ts'

/**
 * OrbitDB's head exchange as stock OrbitDB 4 speaks it (`/orbitdb/heads/…`),
 * for the streams chainstore runs with peers that do not speak the framed
 * exchange (src/replication/framed-heads.ts).
 *
 * Stock `Sync` (@orbitdb/core src/sync.js) writes each head with one
 * `stream.send(bytes)` and decodes every chunk it reads as one entry. What a
 * chunk is depends on libp2p: a yamux data frame, or everything that arrived
 * before the reader started, in one piece. Two heads sent back to back can
 * come out as one chunk and fail to decode (docs/UPSTREAM-ORBITDB.md). So
 * toward a stock peer chainstore sends ONE head per stream: the first on the
 * exchange's own stream, each further head on a stream of its own; and what
 * a stock peer sends is cut into entries by their CBOR structure, however it
 * was chunked. One head in a fresh stream is one yamux frame as long as it
 * fits the stream's initial window (256 KiB): a larger head still reaches a
 * stock peer in pieces, which stock OrbitDB cannot read.
 */

/** Bytes of a CBOR argument after the initial byte, by its additional information (24-27); dag-cbor has no indefinite lengths (31). */
const ARGUMENT_BYTES: Record<number, number> = { 24: 1, 25: 2, 26: 4, 27: 8 }

/**
 * Where the first CBOR data item of `bytes` ends, or -1 when it is not all
 * there yet. Throws on what dag-cbor never holds (indefinite lengths,
 * reserved values). It only walks headers and skips strings: nothing is
 * decoded or allocated.
 */
export function cborItemEnd (bytes: Uint8Array): number {
  let at = 0
  let pending = 1
  while (pending > 0) {
    if (at >= bytes.length) return -1
    const major = bytes[at] >> 5
    const info = bytes[at] & 0x1f
    at++
    let arg = info
    if (info >= 24) {
      const n = ARGUMENT_BYTES[info]
      if (n == null) throw new Error(`CBOR additional information ${info} is not dag-cbor`)
      if (at + n > bytes.length) return -1
      arg = 0
      for (let i = 0; i < n; i++) arg = arg * 256 + bytes[at + i]
      at += n
    }
    pending--
    if (major === 2 || major === 3) at += arg
    else if (major === 4) pending += arg
    else if (major === 5) pending += 2 * arg
    else if (major === 6) pending += 1
    if (at > bytes.length) return -1
  }
  return at
}

/**
 * Whole CBOR items (OrbitDB entries) from a byte source, however it was
 * chunked. An item longer than `maxBytes`, bytes that are not dag-cbor or
 * bytes left at the end throw PeerMisbehavedError.
 */
export async function * decodeEntries (source: AsyncIterable<Uint8Array | { subarray: () => Uint8Array }>, peer: string, maxBytes: number): AsyncGenerator<Uint8Array> {
  let buf: Uint8Array = new Uint8Array(0)
  for await (const chunk of source) {
    const bytes = chunk.subarray()
    if (buf.length === 0) buf = bytes
    else { const joined = new Uint8Array(buf.length + bytes.length); joined.set(buf, 0); joined.set(bytes, buf.length); buf = joined }
    for (;;) {
      let end: number
      try { end = cborItemEnd(buf) } catch (err) { throw new PeerMisbehavedError(peer, 'head exchange: bytes that are not dag-cbor', { cause: err }) }
      if (end === -1) {
        if (buf.length > maxBytes) throw new PeerMisbehavedError(peer, `head exchange entry of more than ${maxBytes} bytes`)
        break
      }
      if (end > maxBytes) throw new PeerMisbehavedError(peer, `head exchange entry of ${end} bytes, more than ${maxBytes}`)
      yield buf.slice(0, end)
      buf = buf.subarray(end)
    }
  }
  if (buf.length > 0) throw new PeerMisbehavedError(peer, `head exchange ended inside an entry (${buf.length} bytes left)`)
}

/**
 * The stream as OrbitDB sees it toward a stock peer: iteration yields whole
 * entries; the first `send` goes on this stream and each later one through
 * `sendAlone` (a stream of its own to the same peer).
 */
export function stockStream (stream: Stream, peer: string, maxBytes: number, sendAlone: (bytes: Uint8Array) => void): Stream {
  let sent = 0
  return new Proxy(stream, {
    get (t, prop) {
      if (prop === 'send') {
        return (bytes: Uint8Array): boolean => {
          if (sent++ === 0) return t.send(bytes)
          sendAlone(bytes)
          return true
        }
      }
      if (prop === Symbol.asyncIterator) return () => decodeEntries(t, peer, maxBytes)[Symbol.asyncIterator]()
      const value = Reflect.get(t, prop, t)
      return typeof value === 'function' ? value.bind(t) : value
    }
  })
}
