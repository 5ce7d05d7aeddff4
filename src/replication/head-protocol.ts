import * as dagCbor from '@ipld/dag-cbor'
import type { Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { PeerMisbehavedError } from './errors.ts'

/**
 * A peer's chain position, asked of every connected peer on each replication
 * tick: replication lag per peer (status, metrics, dashboard) comes from it.
 * The server writes one small dag-cbor frame and closes; the asker sends
 * nothing.
 */
export const HEAD_PROTOCOL = '/chainstore/head/1.0.0'

/** What HEAD_PROTOCOL answers. `height` -1: an empty store. */
export interface PeerHead {
  height: number
  cid: string | null
  finalized: number
}

/** Largest answer accepted: a height, a CID string and a height. */
const MAX_HEAD_BYTES = 256

export async function serveHead (stream: Stream, head: () => PeerHead, onError: (err: unknown) => void): Promise<void> {
  const lp = lpStream(stream, { maxDataLength: MAX_HEAD_BYTES })
  const signal = AbortSignal.timeout(5_000)
  try {
    await lp.write(dagCbor.encode(head()), { signal })
    await stream.close({ signal })
  } catch (err) {
    onError(err)
    stream.abort(err as Error)
  }
}

export async function requestHead (stream: Stream, peer: string, signal: AbortSignal): Promise<PeerHead> {
  const lp = lpStream(stream, { maxDataLength: MAX_HEAD_BYTES })
  try {
    const bytes = (await lp.read({ signal })).subarray()
    let v: any
    try { v = dagCbor.decode(bytes) } catch (err) { throw new PeerMisbehavedError(peer, 'head reply is not dag-cbor', { cause: err }) }
    const height = v?.height
    const finalized = v?.finalized
    const cid = v?.cid
    if (!Number.isSafeInteger(height) || height < -1 || !Number.isSafeInteger(finalized) || finalized < -1 || finalized > height ||
      !(cid === null || (typeof cid === 'string' && cid.length <= 128))) {
      throw new PeerMisbehavedError(peer, 'head reply has the wrong shape')
    }
    return { height, cid, finalized }
  } finally {
    try { await stream.close({ signal }) } catch { stream.abort(new Error('closed')) }
  }
}
