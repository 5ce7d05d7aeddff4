import { createHash, randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import type { BackupDestination } from '../../src/backup/index.ts'

async function collect (it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const out: Uint8Array[] = []
  for await (const c of it) out.push(c)
  return Buffer.concat(out)
}

async function keys (d: BackupDestination, prefix = ''): Promise<Array<[string, number]>> {
  const out: Array<[string, number]> = []
  for await (const o of d.list(prefix)) out.push([o.key, o.bytes])
  return out.sort()
}

/** `n` chunks of `size` pseudo-random bytes made as they are pulled (never all in memory), and their sha256. */
function chunks (n: number, size: number, seed: number): { body: AsyncIterable<Uint8Array>, sha256: () => string } {
  const hash = createHash('sha256')
  return {
    body: (async function * () {
      for (let i = 0; i < n; i++) {
        const c = createHash('sha512').update(`${seed}/${i}`).digest()
        const chunk = Buffer.alloc(size)
        for (let o = 0; o < size; o += c.length) c.copy(chunk, o)
        hash.update(chunk)
        yield chunk
      }
    })(),
    sha256: () => hash.digest('hex')
  }
}

/**
 * What every BackupDestination promises (src/backup/types.ts), run against
 * the local directory, s3rver and Azurite: a written object reads back byte
 * for byte (a large one through multipart), an object exists whole or not
 * at all, a missing one is a typed error, list and delete see what is there.
 */
export function backupDestinationTests (name: string, test: { setup: () => Promise<BackupDestination>, teardown: () => Promise<void> }): void {
  describe(`BackupDestination compliance: ${name}`, () => {
    it('writes a small and a multipart-sized object and reads both back byte for byte; list names them with their sizes', async () => {
      const d = await test.setup()
      try {
        const small = randomBytes(1000)
        // chunks as plain Uint8Arrays (not Buffers), as dag-cbor hands them out
        expect(await d.write('a/small.car', (async function * () { yield new Uint8Array(small.subarray(0, 10)); yield new Uint8Array(small.subarray(10)) })())).toEqual({ bytes: 1000 })
        // 12 MiB in 1 MiB chunks: more than two 5 MiB parts
        const big = chunks(12, 1 << 20, 1)
        expect(await d.write('a/big.car', big.body)).toEqual({ bytes: 12 << 20 })
        expect(Buffer.compare(await collect(d.read('a/small.car')), small)).toBe(0)
        const h = createHash('sha256')
        let n = 0
        for await (const c of d.read('a/big.car')) { h.update(c); n += c.length }
        expect(n).toBe(12 << 20)
        expect(h.digest('hex')).toBe(big.sha256())
        expect(await keys(d)).toEqual([['a/big.car', 12 << 20], ['a/small.car', 1000]])
        expect(await keys(d, 'a/s')).toEqual([['a/small.car', 1000]])
        expect(await keys(d, 'b/')).toEqual([])
      } finally { await test.teardown() }
    })

    it('an object whose body fails mid-way is not there at all (not even in part)', async () => {
      const d = await test.setup()
      try {
        const body = (async function * () {
          yield Buffer.alloc(6 << 20, 1)
          yield Buffer.alloc(1 << 20, 2)
          throw new Error('the producer failed')
        })()
        await expect(d.write('x/cut.car', body)).rejects.toThrow()
        expect(await keys(d)).toEqual([])
        await expect(collect(d.read('x/cut.car'))).rejects.toMatchObject({ name: 'DestinationObjectNotFoundError' })
      } finally { await test.teardown() }
    })

    it('a missing object is DestinationObjectNotFoundError naming the destination; delete removes objects (and ignores missing ones)', async () => {
      const d = await test.setup()
      try {
        const err = await collect(d.read('nope/manifest.cbor')).then(() => null, (e: Error & { destination?: string }) => e)
        expect(err?.name).toBe('DestinationObjectNotFoundError')
        expect(err?.destination).toBe(d.name)
        await d.write('k/one.car', (async function * () { yield Buffer.from('one') })())
        await d.write('k/two.car', (async function * () { yield Buffer.from('two') })())
        await d.delete(['k/one.car', 'k/missing.car'])
        expect(await keys(d)).toEqual([['k/two.car', 3]])
        await d.delete(['k/two.car'])
        expect(await keys(d)).toEqual([])
      } finally { await test.teardown() }
    })

    it('refuses keys that are not plain relative paths', async () => {
      const d = await test.setup()
      try {
        for (const k of ['../up.car', '/abs.car', 'a//b.car', '']) {
          await expect(d.write(k, (async function * () { yield Buffer.from('x') })())).rejects.toMatchObject({ name: 'InvalidDestinationError' })
        }
      } finally { await test.teardown() }
    })
  })
}
