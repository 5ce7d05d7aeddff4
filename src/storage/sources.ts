import type { CID } from 'multiformats/cid'
import { IDENTITY, bytesMatchCid } from '../codec/cid.ts'
import { CorruptDataError } from '../codec/errors.ts'
import { BlockNotFoundError } from './errors.ts'
import { blockKey } from './keys.ts'
import type { BlocksDb } from './level.ts'
import type { BlockGetOptions, BlockSource } from './types.ts'

/** The local tier: blocks in LevelDB. */
export interface LevelSource extends BlockSource {
  /** The stored bytes as they are, or undefined (hot paths that verify elsewhere). */
  getSync: (cid: CID) => Uint8Array | undefined
  /** The stored bytes, re-hashed against the CID (CorruptDataError when they do not match), or undefined. */
  getVerifiedSync: (cid: CID) => Uint8Array | undefined
}

/**
 * The local tier: blocks in LevelDB. `get` re-hashes what it read against
 * the CID (Kubo's HashOnRead): bytes damaged at rest are a CorruptDataError
 * naming the CID, never returned.
 */
/** The error of a local read whose bytes do not hash to their CID (every local tier throws this one). */
export function damagedBlock (cid: CID): CorruptDataError {
  return new CorruptDataError(`block ${cid.toString()}: the stored bytes do not hash to it`, { cid: cid.toString() })
}

export function levelSource (blocks: BlocksDb): LevelSource {
  // an identity CID holds its block's bytes itself: every store has it (Helia's blockstore answers it the same way)
  const getSync = (cid: CID): Uint8Array | undefined => cid.multihash.code === IDENTITY ? cid.multihash.digest : blocks.getSync(blockKey(cid)) ?? undefined
  const getVerifiedSync = (cid: CID): Uint8Array | undefined => {
    if (cid.multihash.code === IDENTITY) return cid.multihash.digest
    const bytes = getSync(cid)
    if (bytes != null && !bytesMatchCid(cid, bytes)) throw damagedBlock(cid)
    return bytes
  }
  return {
    getSync,
    getVerifiedSync,
    has: async (cid, o) => { o?.signal?.throwIfAborted(); return getSync(cid) != null },
    get: async (cid, o) => {
      o?.signal?.throwIfAborted()
      const bytes = getVerifiedSync(cid)
      if (bytes == null) throw new BlockNotFoundError(`no block ${cid.toString()} in this store`)
      return bytes
    }
  }
}

/**
 * `has` for a tier that can only learn whether it has a block by fetching it
 * (peers, gateways): true when `get` produced verified bytes, false when it
 * did not, and the caller's abort rethrown.
 */
export function hasByGet (get: BlockSource['get']): BlockSource['has'] {
  return async (cid, options = {}) => {
    try {
      await get(cid, options)
      return true
    } catch (err) {
      if (options.signal?.aborted === true) throw err
      return false
    }
  }
}

/** A network tier of a {@link RemoteBlocks} stack. */
export interface RemoteTier {
  /** What a failure message says was tried (`connected peers within 5000 ms`); the error's message when absent. */
  describe?: (options: BlockGetOptions) => string
  source: BlockSource
}

/**
 * The network tiers in order (connected peers, then trustless gateways): the
 * first that produces the block wins; each verifies what it returns. When
 * none does, one `BlockNotFoundError` says what was tried, with the last
 * failure as its cause. An abort by the caller is never swallowed.
 */
export class RemoteBlocks implements BlockSource {
  readonly #tiers: RemoteTier[] = []

  /** Adds a tier (replication adds its peers before the gateways when it starts). */
  add (tier: RemoteTier, first = false): void {
    if (first) this.#tiers.unshift(tier)
    else this.#tiers.push(tier)
  }

  /** Takes a tier out (replication stopping). */
  remove (tier: RemoteTier): void {
    const i = this.#tiers.indexOf(tier)
    if (i >= 0) this.#tiers.splice(i, 1)
  }

  readonly has = hasByGet(async (cid, options) => await this.get(cid, options))

  async get (cid: CID, options: BlockGetOptions = {}): Promise<Uint8Array> {
    options.signal?.throwIfAborted()
    const tried: string[] = []
    let cause: unknown
    for (const tier of [...this.#tiers]) {
      try {
        return await tier.source.get(cid, options)
      } catch (err) {
        if (options.signal?.aborted === true) throw err
        tried.push(tier.describe?.(options) ?? (err as Error).message)
        cause = err
      }
    }
    throw new BlockNotFoundError(`no block ${cid.toString()} in this store${tried.length > 0 ? `, ${tried.join('; ')}` : ''}`, { cause })
  }
}
