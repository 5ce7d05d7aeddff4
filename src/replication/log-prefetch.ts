import type { CID } from 'multiformats/cid'
import { PeerMisbehavedError } from './errors.ts'
import { LOG_PROTOCOL, fetchLog } from './protocol.ts'
import type { ReplicationContext } from './types.ts'

/**
 * A fresh node asks a peer for every chain-log entry block in one stream
 * and writes them in LevelDB batches: OrbitDB's join walks the log level by
 * level with a bitswap round trip per level (~40 entries/s on loopback);
 * with the blocks already local the walk only verifies. The first peer that
 * answers serves. The blocks are cached, not pinned (GC keeps them through
 * {@link LogPrefetch.prefetched} until OrbitDB has them in its log); OrbitDB
 * verifies each entry's signature and access when it joins it.
 */
export class LogPrefetch {
  /** Entry blocks prefetched for a join. */
  readonly prefetched: CID[] = []
  readonly #ctx: ReplicationContext

  constructor (ctx: ReplicationContext) {
    this.#ctx = ctx
  }

  async run (): Promise<void> {
    const { peers, libp2p, blocks, stats, log } = this.#ctx
    for (const peer of peers.byReputation()) {
      const signal = AbortSignal.any([AbortSignal.timeout(60_000), this.#ctx.signal])
      try {
        const stream = await libp2p.dialProtocol(peer, LOG_PROTOCOL, { signal })
        let pending: Array<{ cid: CID, bytes: Uint8Array }> = []
        const n = await fetchLog(stream, peer.toString(), async (cid, bytes) => {
          this.prefetched.push(cid)
          pending.push({ cid, bytes })
          if (pending.length >= 1000) { await blocks.putVerifiedBlocks(pending); pending = [] }
        }, signal)
        if (pending.length > 0) await blocks.putVerifiedBlocks(pending)
        stats.logEntriesPrefetched += n
        log.debug({ peer: peer.toString(), entries: n }, 'chain log prefetched')
        return
      } catch (err) {
        if (err instanceof PeerMisbehavedError) peers.penalize(peer.toString(), err.message)
        if (this.#ctx.stopped()) return
      }
    }
  }
}
