import { CarBlockIterator } from '@ipld/car/iterator'
import type { CID } from 'multiformats/cid'

/** A block read from a CAR with its position. */
export interface CarBlock { cid: CID, bytes: Uint8Array, index: number }

/**
 * Turns a decoder failure into the caller's typed error: `where` names the
 * header or `block <n>`, `truncated` says the data ended inside it.
 */
export type CarErrorMapper = (where: string, index: number | undefined, truncated: boolean, err: unknown) => Error

/**
 * Streams a CARv1: its roots, then its blocks with their positions. Decoder
 * failures (a bad header, a block cut short, bytes that are not CAR) go
 * through `onError`, so backups and snapshots each report them as their own
 * typed errors; I/O errors (they carry a `code`) pass through as they are.
 */
export async function streamCar (source: AsyncIterable<Uint8Array>, onError: CarErrorMapper): Promise<{ roots: CID[], blocks: () => AsyncGenerator<CarBlock> }> {
  const fail = (where: string, index: number | undefined, err: unknown): Error => {
    if ((err as NodeJS.ErrnoException)?.code != null) return err as Error
    return onError(where, index, /unexpected end of data/i.test((err as Error)?.message ?? String(err)), err)
  }
  let reader: CarBlockIterator
  try {
    reader = await CarBlockIterator.fromIterable(source)
  } catch (err) {
    throw fail('the header', undefined, err)
  }
  const roots = await reader.getRoots()
  return {
    roots,
    blocks: async function * () {
      let index = 0
      const it = reader[Symbol.asyncIterator]()
      while (true) {
        let next
        try {
          next = await it.next()
        } catch (err) {
          throw fail(`block ${index}`, index, err)
        }
        if (next.done === true) return
        yield { cid: next.value.cid, bytes: next.value.bytes, index: index++ }
      }
    }
  }
}
