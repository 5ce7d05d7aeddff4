import * as dagCbor from '@ipld/dag-cbor'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { CID } from 'multiformats/cid'
import { bytesMatchCid } from '../codec/cid.ts'
import type { EncodedBlock } from '../codec/encode.ts'
import { blockFromBytes } from '../codec/from-bytes.ts'
import type { CodecLimits } from '../codec/types.ts'
import { PeerMisbehavedError, ProtocolRequestError } from './errors.ts'

/** Streams whole block DAGs (header + pages) by header CID. */
export const BLOCKS_PROTOCOL = '/chainstore/blocks/1.0.0'
/** Asks a replica to hold blocks verified and pinned, and to say which it holds. */
export const ACK_PROTOCOL = '/chainstore/ack/1.0.0'
/** Most CIDs one request may name. */
export const MAX_WANT = 256
/** Largest request message (a list of CIDs). */
export const MAX_REQUEST_BYTES = MAX_WANT * 64 + 64

/** Bytes of frames a response gathers before it writes them to the stream at once. */
const COALESCE_BYTES = 60 * 1024

const FRAME_BLOCK = 0
const FRAME_MISSING = 1
const FRAME_END = 2
const FRAME_ERROR = 3

/** The store operations the protocols serve from. */
export interface DagSource {
  hasBlock: (cid: CID) => boolean
  /** A stored block's IPLD blocks; the bytes may be reused after the caller's next await (copy them first). */
  blockDag: (cid: CID) => Array<{ cid: CID, bytes: Uint8Array }>
}

function decodeCids (bytes: Uint8Array, field: string): CID[] {
  let value: any
  try { value = dagCbor.decode(bytes) } catch (err) { throw new ProtocolRequestError('request is not dag-cbor', { cause: err }) }
  const list = value?.[field]
  if (!Array.isArray(list) || list.length > MAX_WANT) throw new ProtocolRequestError(`request.${field}: expected at most ${MAX_WANT} CIDs`)
  return list.map(c => {
    const cid = CID.asCID(c)
    if (cid == null) throw new ProtocolRequestError(`request.${field}: not a CID`)
    return cid
  })
}

function frame (kind: number, ...parts: Uint8Array[]): Uint8Array {
  let size = 1
  for (const p of parts) size += p.length
  const out = new Uint8Array(size)
  out[0] = kind
  let o = 1
  for (const p of parts) { out.set(p, o); o += p.length }
  return out
}

/**
 * Runs a framed response: one length-prefixed request, then `respond` writes
 * frames, then an end frame. Any failure (bad request, oversized message,
 * timeout) answers with an error frame and resets the stream; it never
 * reaches the node beyond `onError`.
 */
async function serveFramed (stream: Stream, timeoutMs: number, onError: (err: unknown) => void,
  respond: (request: Uint8Array, write: (kind: number, ...parts: Uint8Array[]) => Promise<void>, writeFrame: (f: Uint8Array) => Promise<void>) => Promise<void>): Promise<void> {
  const lp = lpStream(stream, { maxDataLength: MAX_REQUEST_BYTES })
  const signal = AbortSignal.timeout(timeoutMs)
  // frames go out COALESCE_BYTES at a time: each write is a muxer frame, a
  // Noise encryption and a socket write, whatever its size, and a block's
  // header alone is a few hundred bytes
  let pending: Uint8Array[] = []
  let pendingBytes = 0
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return
    const out = pending
    pending = []
    pendingBytes = 0
    await lp.writeV(out, { signal })
  }
  try {
    const request = (await lp.read({ signal })).subarray()
    const writeFrame = async (f: Uint8Array): Promise<void> => {
      pending.push(f)
      pendingBytes += f.length
      if (pendingBytes >= COALESCE_BYTES) await flush()
    }
    await respond(request, async (kind, ...parts) => { await writeFrame(frame(kind, ...parts)) }, writeFrame)
    pending.push(frame(FRAME_END))
    await flush()
    await stream.close({ signal })
  } catch (err) {
    onError(err)
    // the frames gathered before the failure still go out (a log response keeps what it streamed), then the error
    try { await lp.writeV([...pending, frame(FRAME_ERROR, new TextEncoder().encode(String((err as Error).message).slice(0, 200)))]) } catch {}
    stream.abort(err as Error)
  }
}

/**
 * Reads the frames of a framed response until the end frame: block frames
 * (CID + bytes, not hashed here: each caller checks the bytes it uses
 * against their CID) and missing frames go to `onFrame`; an error frame
 * becomes ProtocolRequestError, anything malformed PeerMisbehavedError
 * naming the peer.
 */
async function readFrames (stream: Stream, peer: string, request: Uint8Array, maxFrame: number, signal: AbortSignal,
  onFrame: (kind: number, cid: CID, bytes: Uint8Array, size: number) => void | Promise<void>): Promise<void> {
  const lp = lpStream(stream, { maxDataLength: maxFrame })
  try {
    await lp.write(request, { signal })
    for (;;) {
      const msg = (await lp.read({ signal })).subarray()
      const kind = msg[0]
      if (kind === FRAME_END) break
      if (kind === FRAME_ERROR) throw new ProtocolRequestError(`peer ${peer} refused: ${new TextDecoder().decode(msg.subarray(1))}`)
      if (kind !== FRAME_BLOCK && kind !== FRAME_MISSING) throw new PeerMisbehavedError(peer, `unknown frame kind ${kind}`)
      let cid: CID; let rest: Uint8Array
      try { [cid, rest] = CID.decodeFirst(msg.subarray(1)) } catch (err) { throw new PeerMisbehavedError(peer, 'frame does not start with a CID', { cause: err }) }
      await onFrame(kind, cid, rest, msg.length)
    }
  } finally {
    try { await stream.close({ signal }) } catch { stream.abort(new Error('closed')) }
  }
}

/** Serves BLOCKS_PROTOCOL: each wanted block's DAG, or a missing frame, then an end frame. */
export async function serveBlocks (stream: Stream, source: DagSource, onError: (err: unknown) => void): Promise<void> {
  await serveFramed(stream, 60_000, onError, async (request, write, writeFrame) => {
    for (const cid of decodeCids(request, 'want')) {
      if (!source.hasBlock(cid)) { await write(FRAME_MISSING, cid.bytes); continue }
      // every page is framed (copied) before the first await: the bytes
      // `blockDag` gives may be reused once later blocks are committed
      const frames = source.blockDag(cid).map(b => frame(FRAME_BLOCK, b.cid.bytes, b.bytes))
      for (const f of frames) await writeFrame(f)
    }
  })
}

/**
 * Fetches block DAGs from one peer and rebuilds each block from the bytes:
 * every block is checked whole ({@link blockFromBytes}, which hashes each
 * IPLD block it uses against its CID, so the frames are not hashed a first
 * time as they arrive; a frame no wanted block links to is dropped unread)
 * before it is returned. A peer that sends bytes that do not match, a block
 * we did not ask for, or more than the limits allow gets a
 * PeerMisbehavedError naming it.
 */
export async function fetchBlocks (stream: Stream, peer: string, want: CID[], limits: CodecLimits, signal: AbortSignal): Promise<{ blocks: EncodedBlock[], missing: CID[] }> {
  const received = new Map<string, Uint8Array>()
  const missing: CID[] = []
  const budget = want.length * (limits.maxBlockBytes + 4096)
  let total = 0
  await readFrames(stream, peer, dagCbor.encode({ want }), limits.maxBlockBytes + 128, signal, (kind, cid, bytes, size) => {
    total += size
    if (total > budget) throw new PeerMisbehavedError(peer, `sent more than ${budget} bytes for ${want.length} blocks`)
    if (kind === FRAME_MISSING) missing.push(cid)
    else received.set(cid.toString(), bytes)
  })
  const blocks: EncodedBlock[] = []
  const missed = new Set(missing.map(c => c.toString()))
  for (const cid of want) {
    const header = received.get(cid.toString())
    if (header == null) {
      if (!missed.has(cid.toString())) throw new PeerMisbehavedError(peer, `answered without block ${cid.toString()}`)
      continue
    }
    try {
      blocks.push(blockFromBytes(cid, header, c => received.get(c.toString()), limits))
    } catch (err) {
      throw new PeerMisbehavedError(peer, `block ${cid.toString()}: ${(err as Error).message}`, { cause: err })
    }
  }
  return { blocks, missing }
}

/** Handles ACK_PROTOCOL: `ensure` makes the blocks present (fetching them from the asker) and returns the ones held. */
export async function serveAck (stream: Stream, connection: Connection, ensure: (peer: PeerId, cids: CID[], signal: AbortSignal) => Promise<CID[]>, timeoutMs: number, onError: (err: unknown) => void): Promise<void> {
  const lp = lpStream(stream, { maxDataLength: MAX_REQUEST_BYTES })
  const signal = AbortSignal.timeout(timeoutMs)
  try {
    const cids = decodeCids((await lp.read({ signal })).subarray(), 'blocks')
    const have = await ensure(connection.remotePeer, cids, signal)
    await lp.write(dagCbor.encode({ have }), { signal })
    await stream.close({ signal })
  } catch (err) {
    onError(err)
    try { await lp.write(dagCbor.encode({ error: String((err as Error).message).slice(0, 200) })) } catch {}
    stream.abort(err as Error)
  }
}

/** Asks a replica for ACK_PROTOCOL confirmations; returns the CIDs it holds. */
export async function requestAck (stream: Stream, peer: string, cids: CID[], signal: AbortSignal): Promise<CID[]> {
  const lp = lpStream(stream, { maxDataLength: MAX_REQUEST_BYTES })
  try {
    await lp.write(dagCbor.encode({ blocks: cids }), { signal })
    const bytes = (await lp.read({ signal })).subarray()
    let value: any
    try { value = dagCbor.decode(bytes) } catch (err) { throw new PeerMisbehavedError(peer, 'ack reply is not dag-cbor', { cause: err }) }
    if (typeof value?.error === 'string') throw new ProtocolRequestError(`replica ${peer}: ${value.error}`)
    if (!Array.isArray(value?.have)) throw new PeerMisbehavedError(peer, 'ack reply has no `have` list')
    const asked = new Set(cids.map(c => c.toString()))
    return value.have.map((c: unknown) => CID.asCID(c)).filter((c: CID | null): c is CID => c != null && asked.has(c.toString()))
  } finally {
    try { await stream.close({ signal }) } catch { stream.abort(new Error('closed')) }
  }
}

/** Streams every entry block of the chain log, so a joining peer has them before OrbitDB walks the log. */
export const LOG_PROTOCOL = '/chainstore/log/1.0.0'
/** Largest chain-log entry block accepted. */
export const MAX_ENTRY_BYTES = 1024 * 1024
/** Most entries one log response may carry. */
export const MAX_LOG_ENTRIES = 1_000_000

/** Serves LOG_PROTOCOL: one request (any dag-cbor map), then a frame per entry block and an end frame. */
export async function serveLog (stream: Stream, entries: () => AsyncIterable<{ cid: CID, bytes: Uint8Array }> | Iterable<{ cid: CID, bytes: Uint8Array }>, onError: (err: unknown) => void): Promise<void> {
  await serveFramed(stream, 120_000, onError, async (request, write) => {
    try { dagCbor.decode(request) } catch (err) { throw new ProtocolRequestError('request is not dag-cbor', { cause: err }) }
    for await (const e of entries()) await write(FRAME_BLOCK, e.cid.bytes, e.bytes)
  })
}

/**
 * Fetches a peer's chain-log entry blocks; each is hashed against its CID
 * before `onBlock` gets it (OrbitDB still verifies signatures and access when
 * it joins them). Returns how many arrived.
 */
export async function fetchLog (stream: Stream, peer: string, onBlock: (cid: CID, bytes: Uint8Array) => Promise<void>, signal: AbortSignal): Promise<number> {
  let n = 0
  await readFrames(stream, peer, dagCbor.encode({ log: 'chain' }), MAX_ENTRY_BYTES + 128, signal, async (kind, cid, bytes) => {
    if (kind !== FRAME_BLOCK) throw new PeerMisbehavedError(peer, 'log response with a missing frame')
    if (!bytesMatchCid(cid, bytes)) throw new PeerMisbehavedError(peer, `bytes sent for ${cid.toString()} do not hash to it`)
    if (++n > MAX_LOG_ENTRIES) throw new PeerMisbehavedError(peer, `sent more than ${MAX_LOG_ENTRIES} log entries`)
    await onBlock(cid, bytes)
  })
  return n
}
