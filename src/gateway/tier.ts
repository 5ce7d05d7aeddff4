import type { CID } from 'multiformats/cid'
import { BlockNotFoundError } from '../storage/errors.ts'
import { hasByGet } from '../storage/sources.ts'
import type { BlockGetOptions, BlockSource } from '../storage/types.ts'
import type { GatewayClient } from './client.ts'

/**
 * The trustless-gateway tier as a {@link BlockSource}: bytes come from the
 * first gateway (by score) whose answer hashes to the CID; when none has
 * verified bytes the read is a BlockNotFoundError that keeps what each
 * gateway did as its message and cause. The caller's abort is rethrown.
 */
export function gatewayBlockSource (client: GatewayClient): BlockSource {
  const get = async (cid: CID, o: BlockGetOptions = {}): Promise<Uint8Array> => {
    o.signal?.throwIfAborted()
    try {
      return await client.fetchBlock(cid, { signal: o.signal })
    } catch (err) {
      if (o.signal?.aborted === true) throw o.signal.reason ?? err
      throw new BlockNotFoundError((err as Error).message, { cause: err })
    }
  }
  return {
    get,
    has: hasByGet(get)
  }
}
