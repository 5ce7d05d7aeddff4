import type { CID } from 'multiformats/cid'
import { equals } from 'uint8arrays/equals'
import { describe, expect, it } from 'vitest'
import type { BlockSource } from '../../src/storage/types.ts'

/** A block source under test and what its backend holds. */
export interface BlockSourceFixture {
  source: BlockSource
  /** Blocks the source must produce. */
  present: Array<{ cid: CID, bytes: Uint8Array }>
  /** A CID nothing behind the source holds. */
  missing: CID
  /** A CID whose backend holds bytes that do not hash to it (every tier must refuse them). */
  corrupt: CID
}

/**
 * The behaviour every BlockSource promises, run against each implementation
 * (js-stores' interface-blockstore-tests shape): verified bytes for what it
 * holds, BlockNotFoundError for what it does not, bad bytes refused, and the
 * caller's abort honoured.
 */
export function blockSourceTests (name: string, test: { setup: () => Promise<BlockSourceFixture>, teardown: () => Promise<void> }): void {
  describe(`BlockSource compliance: ${name}`, () => {
    it('get returns the bytes of every block it holds, and has says so', async () => {
      const f = await test.setup()
      try {
        for (const b of f.present) {
          expect(equals(await f.source.get(b.cid), b.bytes)).toBe(true)
          expect(await f.source.has(b.cid)).toBe(true)
        }
      } finally { await test.teardown() }
    })

    it('a missing block is a BlockNotFoundError naming the CID, and has is false', async () => {
      const f = await test.setup()
      try {
        const err = await f.source.get(f.missing).then(() => null, (e: Error) => e)
        expect(err?.name).toBe('BlockNotFoundError')
        expect(err?.message).toContain(f.missing.toString())
        expect(await f.source.has(f.missing)).toBe(false)
      } finally { await test.teardown() }
    })

    it('bytes that do not hash to the CID are refused, never returned', async () => {
      const f = await test.setup()
      try {
        const got = await f.source.get(f.corrupt).then(bytes => bytes, (e: Error) => e)
        expect(got).toBeInstanceOf(Error)
        expect(['BlockNotFoundError', 'CorruptDataError']).toContain((got as Error).name)
      } finally { await test.teardown() }
    })

    it('an aborted signal rejects with its reason, for held and missing blocks alike', async () => {
      const f = await test.setup()
      try {
        const controller = new AbortController()
        const reason = new Error('caller gave up')
        controller.abort(reason)
        await expect(f.source.get(f.present[0].cid, { signal: controller.signal })).rejects.toBe(reason)
        await expect(f.source.get(f.missing, { signal: controller.signal })).rejects.toBe(reason)
        await expect(f.source.has(f.missing, { signal: controller.signal })).rejects.toBe(reason)
      } finally { await test.teardown() }
    })

    it('an abort while waiting on a missing block rejects with its reason', async () => {
      const f = await test.setup()
      try {
        const controller = new AbortController()
        const reason = new Error('caller gave up later')
        const pending = f.source.get(f.missing, { signal: controller.signal })
        setTimeout(() => controller.abort(reason), 20)
        const got = await pending.then(() => null, (e: unknown) => e)
        // a source that answers before the abort may say not-found; one still waiting must give the reason
        if (got !== reason) expect((got as Error).name).toBe('BlockNotFoundError')
      } finally { await test.teardown() }
    })
  })
}
