import { NotFoundError } from 'interface-store'
import type { CID } from 'multiformats/cid'

/** The errors Helia's networked storage throws when no block broker produced a block. */
const NOT_RETRIEVED = new Set(['LoadBlockFailedError', 'InvalidConfigurationError', 'BlockNotFoundWhileOfflineError'])

/**
 * Helia's blockstore as others expect a Blockstore to behave (js-stores'
 * interface-blockstore-tests): a block that is neither stored here nor
 * produced by any block broker is a `NotFoundError`. Helia's networked
 * storage throws `InvalidConfigurationError: No block brokers…` with the
 * network off and `LoadBlockFailedError` when every broker failed; both mean
 * "not found" to a caller of the Blockstore contract. The original error is
 * kept as `cause`; every other member is Helia's own.
 */
export function withNotFound<T extends { get: (...a: any[]) => AsyncIterable<Uint8Array> | Iterable<Uint8Array>, getMany: (...a: any[]) => AsyncIterable<any> | Iterable<any> }> (blockstore: T): T {
  const notFound = (err: unknown, what: string): unknown => {
    if (!NOT_RETRIEVED.has((err as Error)?.name)) return err
    const e = new NotFoundError(`${what}: not stored here and no block broker produced it`)
    ;(e as Error & { cause?: unknown }).cause = err
    return e
  }
  async function * get (this: T, cid: CID, options?: unknown): AsyncGenerator<Uint8Array> {
    try {
      yield * blockstore.get(cid, options)
    } catch (err) {
      throw notFound(err, `block ${cid.toString()}`)
    }
  }
  async function * getMany (this: T, cids: unknown, options?: unknown): AsyncGenerator<any> {
    try {
      yield * blockstore.getMany(cids, options)
    } catch (err) {
      throw notFound(err, 'a block of getMany')
    }
  }
  return new Proxy(blockstore, {
    get (target, prop, receiver) {
      if (prop === 'get') return get
      if (prop === 'getMany') return getMany
      const value = Reflect.get(target, prop, receiver)
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
}
