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
 *
 * Gets of one CID in flight at once are one get (a single flight): the
 * others wait for its bytes. Without it a get can be lost: @helia/bitswap 4
 * marks a want cancelled when its block arrives and deletes it on its next
 * send, and a second want for the same CID added in between (its `has`
 * check ran before the first get had stored the block) reuses the cancelled
 * entry, is never sent and waits until its caller gives up (OrbitDB: 30 s
 * per identity or entry; a late joiner's validators log stalled that long
 * in the scale test, docs/PITFALLS.md). A waiter whose leader was aborted by
 * its own signal starts a get of its own.
 */
export function withNotFound<T extends { get: (...a: any[]) => AsyncIterable<Uint8Array> | Iterable<Uint8Array>, getMany: (...a: any[]) => AsyncIterable<any> | Iterable<any> }> (blockstore: T): T {
  const notFound = (err: unknown, what: string): unknown => {
    if (!NOT_RETRIEVED.has((err as Error)?.name)) return err
    const e = new NotFoundError(`${what}: not stored here and no block broker produced it`)
    ;(e as Error & { cause?: unknown }).cause = err
    return e
  }
  const inflight = new Map<string, Promise<Uint8Array[]>>()
  const start = (key: string, cid: CID, options?: unknown): Promise<Uint8Array[]> => {
    const p = (async () => {
      const chunks: Uint8Array[] = []
      for await (const c of blockstore.get(cid, options)) chunks.push(c)
      return chunks
    })()
    inflight.set(key, p)
    const done = (): void => { if (inflight.get(key) === p) inflight.delete(key) }
    p.then(done, done)
    return p
  }
  async function * get (this: T, cid: CID, options?: { signal?: AbortSignal }): AsyncGenerator<Uint8Array> {
    const mh = cid.multihash.bytes
    const key = Buffer.from(mh.buffer, mh.byteOffset, mh.length).toString('latin1')
    let chunks: Uint8Array[] | undefined
    for (let attempt = 0; chunks == null; attempt++) {
      const joined = attempt === 0 ? inflight.get(key) : undefined
      try {
        chunks = await (joined ?? start(key, cid, options))
      } catch (err) {
        // the leader's caller gave up (its signal), not ours: fetch on our own
        if (joined != null && options?.signal?.aborted !== true) continue
        throw notFound(err, `block ${cid.toString()}`)
      }
    }
    yield * chunks
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
