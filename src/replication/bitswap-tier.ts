import type { CID } from 'multiformats/cid'
import { BlockNotFoundError } from '../storage/errors.ts'
import { hasByGet } from '../storage/sources.ts'
import type { BlockGetOptions, BlockSource } from '../storage/types.ts'

/** Reads a block from connected peers (bitswap), verified against its CID; rejects when the signal ends. */
export type PeerRead = (cid: CID, signal: AbortSignal) => Promise<Uint8Array>

/**
 * The connected-peers tier as a {@link BlockSource}: each read waits at most
 * `timeoutMs` (per call, or the default), a block no peer sends in that time
 * is a BlockNotFoundError with the reason as cause, bytes that do not hash to
 * the CID are refused (the read throws), and the caller's abort is rethrown.
 */
export function peerBlockSource (read: PeerRead, defaultTimeoutMs: number): BlockSource & { describe: (o: BlockGetOptions) => string } {
  const ms = (o: BlockGetOptions): number => o.timeoutMs ?? defaultTimeoutMs
  const get = async (cid: CID, o: BlockGetOptions = {}): Promise<Uint8Array> => {
    o.signal?.throwIfAborted()
    const timeout = AbortSignal.timeout(ms(o))
    try {
      return await read(cid, o.signal != null ? AbortSignal.any([o.signal, timeout]) : timeout)
    } catch (err) {
      if (o.signal?.aborted === true) throw o.signal.reason ?? err
      throw new BlockNotFoundError(`no block ${cid.toString()} from connected peers within ${ms(o)} ms`, { cause: err })
    }
  }
  return {
    describe: o => `connected peers within ${ms(o)} ms`,
    get,
    has: hasByGet(get)
  }
}
