import * as dagCbor from '@ipld/dag-cbor'
import type { Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { PeerMisbehavedError } from './errors.ts'

/**
 * A peer's chain position, asked of every connected peer on each replication
 * tick: replication lag per peer (status, metrics, dashboard) comes from it,
 * and the heads of its OrbitDB logs drive anti-entropy (a peer whose heads
 * this node lacks gets OrbitDB's head exchange again). The server writes one
 * small dag-cbor frame and closes; the asker sends nothing. Chainstore peers
 * ask over {@link HEAD_STREAM_PROTOCOL} (one stream kept open); this one
 * stays for peers that do not speak it.
 */
export const HEAD_PROTOCOL = '/chainstore/head/1.0.0'

/** What HEAD_PROTOCOL answers. `height` -1: an empty store. */
export interface PeerHead {
  height: number
  cid: string | null
  finalized: number
  /** Entry hashes of the heads of each replicated log, by database (chain, validators, …). */
  logs?: Record<string, string[]>
  /** Hashes of the validator set's identity blocks the peer holds (fetched eagerly, src/replication/identities.ts). */
  identities?: string[]
}

/** Heads per log a reply may name (a log has a few heads; more is refused). */
export const MAX_LOG_HEADS = 32
/** Databases a reply may name. */
const MAX_LOGS = 8
/** Identity hashes a reply may name. */
export const MAX_HEAD_IDENTITIES = 64
/** Largest answer accepted: the position plus up to 8 logs × 32 heads and 64 identities of ≤ 64-character hashes. */
const MAX_HEAD_BYTES = 32 * 1024

export async function serveHead (stream: Stream, head: () => PeerHead | Promise<PeerHead>, onError: (err: unknown) => void): Promise<void> {
  const lp = lpStream(stream, { maxDataLength: MAX_HEAD_BYTES })
  const signal = AbortSignal.timeout(5_000)
  try {
    await lp.write(dagCbor.encode(await head()), { signal })
    await stream.close({ signal })
  } catch (err) {
    onError(err)
    stream.abort(err as Error)
  }
}

export async function requestHead (stream: Stream, peer: string, signal: AbortSignal): Promise<PeerHead> {
  const lp = lpStream(stream, { maxDataLength: MAX_HEAD_BYTES })
  try {
    return parseHead((await lp.read({ signal })).subarray(), peer)
  } finally {
    try { await stream.close({ signal }) } catch { stream.abort(new Error('closed')) }
  }
}

/** Checks and decodes one head reply; PeerMisbehavedError when it is not one. */
export function parseHead (bytes: Uint8Array, peer: string): PeerHead {
  let v: any
  try { v = dagCbor.decode(bytes) } catch (err) { throw new PeerMisbehavedError(peer, 'head reply is not dag-cbor', { cause: err }) }
  const height = v?.height
  const finalized = v?.finalized
  const cid = v?.cid
  if (!Number.isSafeInteger(height) || height < -1 || !Number.isSafeInteger(finalized) || finalized < -1 || finalized > height ||
    !(cid === null || (typeof cid === 'string' && cid.length <= 128))) {
    throw new PeerMisbehavedError(peer, 'head reply has the wrong shape')
  }
  const identities = v.identities
  if (identities !== undefined && (!Array.isArray(identities) || identities.length > MAX_HEAD_IDENTITIES || !identities.every(h => typeof h === 'string' && h.length > 0 && h.length <= 64))) {
    throw new PeerMisbehavedError(peer, 'head reply: identities have the wrong shape')
  }
  const logs = v.logs
  if (logs === undefined) return { height, cid, finalized, identities }
  if (logs === null || typeof logs !== 'object' || Array.isArray(logs) || Object.keys(logs).length > MAX_LOGS) throw new PeerMisbehavedError(peer, 'head reply: logs has the wrong shape')
  for (const [name, heads] of Object.entries(logs)) {
    if (name.length > 32 || !Array.isArray(heads) || heads.length > MAX_LOG_HEADS || !heads.every(h => typeof h === 'string' && h.length > 0 && h.length <= 64)) {
      throw new PeerMisbehavedError(peer, `head reply: heads of log ${name.slice(0, 32)} have the wrong shape`)
    }
  }
  return { height, cid, finalized, logs, identities }
}

/**
 * The same answers over one long-lived stream per peer: the asker writes a
 * one-byte ask each tick and reads one reply, and the stream stays open
 * between ticks. A new stream per tick costs both sides a multistream
 * negotiation, noise and yamux frames for the stream's open and close, and
 * libp2p's peer-store update of the protocol: the largest part of an idle
 * peer's CPU after gossipsub (docs/SCALING.md). Peers that speak only
 * {@link HEAD_PROTOCOL} are asked the old way (the dial offers both; libp2p
 * picks the first the peer handles).
 */
export const HEAD_STREAM_PROTOCOL = '/chainstore/head/2.0.0'

/** The ask frame: one byte, nothing else. */
const ASK = 0x01

/** A head stream the asker has not used for this long is closed by the server (the asker opens another). */
export const HEAD_STREAM_IDLE_MS = 60_000

/**
 * Serves asks on one stream until the asker closes it, sends anything but an
 * ask, or stays silent for `idleMs`; each ask gets one reply of {@link PeerHead}.
 */
export async function serveHeadStream (stream: Stream, head: () => PeerHead | Promise<PeerHead>, onError: (err: unknown) => void, idleMs = HEAD_STREAM_IDLE_MS): Promise<void> {
  const lp = lpStream(stream, { maxDataLength: 1 })
  try {
    for (;;) {
      let ask: Uint8Array
      try {
        ask = (await lp.read({ signal: AbortSignal.timeout(idleMs) })).subarray()
      } catch (err) {
        // the asker closed its side (or went quiet): the stream's normal end
        if (isEnd(err)) { await stream.close().catch(() => { stream.abort(err as Error) }); return }
        throw err
      }
      if (ask.length !== 1 || ask[0] !== ASK) throw new PeerMisbehavedError(String((stream as any).remotePeer ?? 'peer'), 'head stream: expected a one-byte ask')
      await lp.write(dagCbor.encode(await head()), { signal: AbortSignal.timeout(5_000) })
    }
  } catch (err) {
    onError(err)
    stream.abort(err as Error)
  }
}

function isEnd (err: unknown): boolean {
  const name = (err as Error)?.name
  return name === 'UnexpectedEOFError' || name === 'TimeoutError' || name === 'AbortError' || name === 'StreamStateError'
}

/** The asker's side of a head stream: one ask in flight at a time. */
export class HeadStream {
  readonly #stream: Stream
  readonly #peer: string
  readonly #lp
  #busy = false

  constructor (stream: Stream, peer: string) {
    this.#stream = stream
    this.#peer = peer
    this.#lp = lpStream(stream, { maxDataLength: MAX_HEAD_BYTES })
  }

  /** True while an ask waits for its reply. */
  get busy (): boolean { return this.#busy }

  /** Asks once and reads the reply; any failure leaves the stream unusable (abort it). */
  async ask (signal: AbortSignal): Promise<PeerHead> {
    this.#busy = true
    try {
      await this.#lp.write(Uint8Array.of(ASK), { signal })
      return parseHead((await this.#lp.read({ signal })).subarray(), this.#peer)
    } finally {
      this.#busy = false
    }
  }

  abort (reason: string): void {
    this.#stream.abort(new Error(reason))
  }
}
