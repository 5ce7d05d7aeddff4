/** The store's LevelDB batches: pooled native batches, the large native batch, the array batch past its limit, and a closed database. */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { WriteFailedError } from '../src/storage/errors.ts'
import { blockKey } from '../src/storage/keys.ts'
import { openLevel, startBatch, type BlocksDb, type RootDb } from '../src/storage/level.ts'
import { MAX_LARGE_BYTES, MAX_POOLED_BYTES, nativeBatches } from '../src/storage/native-batch.ts'
import { tempDir } from './helpers/store.ts'

let cleanup: (() => Promise<void>) | undefined
afterEach(async () => { await cleanup?.(); cleanup = undefined })

async function open (): Promise<{ db: RootDb, blocks: BlocksDb, dir: string }> {
  const t = await tempDir('chainstore-batch-')
  const { db, blocks } = await openLevel(t.dir, { writeBufferSize: 4 << 20, cacheSize: 8 << 20 })
  cleanup = async () => { await db.close(); await t.cleanup() }
  return { db, blocks, dir: t.dir }
}

const key = (i: number): Uint8Array => Uint8Array.of(0x7f, i >> 16, (i >> 8) & 0xff, i & 0xff)
/** Plain bytes (LevelDB returns Buffers) for comparisons. */
const bytesOf = (b: Uint8Array | undefined): number[] | undefined => b == null ? undefined : [...b]
const value = (i: number, size: number): Uint8Array => new Uint8Array(size).fill(i & 0xff)
/** What LevelDB holds under `k`, as `value(i, size)` would describe it (large values: no element-by-element diff). */
const held = (db: RootDb, k: Uint8Array): string => {
  const got = db.getSync(k)
  return got == null ? 'nothing' : got.every(b => b === got[0]) ? `${got.length} × ${got[0]}` : `${got.length} mixed bytes`
}
const described = (i: number, size: number): string => `${size} × ${i & 0xff}`

describe('store batches', () => {
  it('the native batch is reachable on classic-level 3 (else every batch silently takes the slower array path)', async () => {
    const { db } = await open()
    expect(nativeBatches(db)).not.toBeNull()
  })

  it('writes puts, deletes and blocks atomically, and the same batch can be filled and written again', async () => {
    const { db, blocks } = await open()
    await db.put(key(9), value(9, 10))
    const bytes = new TextEncoder().encode('a block')
    const cid = CID.createV1(0x55, await sha256.digest(bytes))
    const batch = startBatch(db, blocks)
    let written = 0
    batch.afterWrite(() => { written++ })
    batch.put(key(1), value(1, 100))
    batch.del(key(9))
    batch.putBlock(cid, bytes)
    expect(batch.length).toBe(3)
    await batch.write(false)
    expect(written).toBe(1)
    expect(batch.length).toBe(0)
    expect(bytesOf(db.getSync(key(1)))).toEqual(bytesOf(value(1, 100)))
    expect(db.getSync(key(9))).toBeUndefined()
    expect(bytesOf(await blocks.get(blockKey(cid)))).toEqual(bytesOf(bytes))
    // the cleared native batch holds nothing of the first write
    batch.put(key(2), value(2, 50))
    await batch.write(false)
    expect(bytesOf(db.getSync(key(2)))).toEqual(bytesOf(value(2, 50)))
    expect(db.getSync(key(9))).toBeUndefined()
  })

  it('a batch past the pool limit moves to the large native batch, and a second one meanwhile is written as an array batch', async () => {
    const { db, blocks } = await open()
    const arrayBatches = vi.spyOn(db, 'batch')
    const size = 64 * 1024
    const n = Math.ceil(MAX_POOLED_BYTES / size) + 8
    const first = startBatch(db, blocks)
    const second = startBatch(db, blocks)
    for (let i = 0; i < n; i++) {
      first.put(key(i), value(i, size))
      second.put(key(10_000 + i), value(i + 1, size))
    }
    first.del(key(0))
    // one large native batch per database: the second has it taken and falls back
    await Promise.all([first.write(false), second.write(false)])
    expect(arrayBatches).toHaveBeenCalledTimes(1)
    expect(db.getSync(key(0))).toBeUndefined()
    for (let i = 1; i < n; i++) expect(held(db, key(i))).toBe(described(i, size))
    for (let i = 0; i < n; i++) expect(held(db, key(10_000 + i))).toBe(described(i + 1, size))
    // the large batch was cleared and given back: the next large batch is native again and holds none of the first's entries
    await db.put(key(0), value(5, 10))
    const third = startBatch(db, blocks)
    for (let i = 0; i < n; i++) third.put(key(20_000 + i), value(i + 2, size))
    await third.write(false)
    expect(arrayBatches).toHaveBeenCalledTimes(1)
    // a stale copy of the first batch would have deleted it again
    expect(held(db, key(0))).toBe(described(5, 10))
    for (let i = 0; i < n; i++) expect(held(db, key(20_000 + i))).toBe(described(i + 2, size))
  })

  it('a batch past the large batch\'s limit is written whole as an array batch, and the pool still serves the next one', async () => {
    const { db, blocks } = await open()
    const arrayBatches = vi.spyOn(db, 'batch')
    const size = 256 * 1024
    const n = Math.ceil(MAX_LARGE_BYTES / size) + 4
    const big = startBatch(db, blocks)
    for (let i = 0; i < n; i++) big.put(key(i), value(i, size))
    big.del(key(0))
    await big.write(false)
    expect(arrayBatches).toHaveBeenCalledTimes(1)
    expect(db.getSync(key(0))).toBeUndefined()
    for (let i = 1; i < n; i++) expect(db.getSync(key(i))?.length).toBe(size)
    const small = startBatch(db, blocks)
    small.put(key(0), value(7, 3))
    await small.write(false)
    expect(arrayBatches).toHaveBeenCalledTimes(1)
    expect(bytesOf(db.getSync(key(0)))).toEqual(bytesOf(value(7, 3)))
  })

  it('one entry that carries a batch past both limits sends it to the array batch, and the large batch stays free', async () => {
    const { db, blocks } = await open()
    const arrayBatches = vi.spyOn(db, 'batch')
    const huge = startBatch(db, blocks)
    huge.put(key(1), value(1, 10))
    huge.put(key(2), value(2, MAX_LARGE_BYTES + 1024))
    await huge.write(false)
    expect(arrayBatches).toHaveBeenCalledTimes(1)
    expect(held(db, key(2))).toBe(described(2, MAX_LARGE_BYTES + 1024))
    // the large batch was never taken: a batch past the pool limit still gets it
    const next = startBatch(db, blocks)
    for (let i = 0; i < 80; i++) next.put(key(100 + i), value(i, 64 * 1024))
    await next.write(false)
    expect(arrayBatches).toHaveBeenCalledTimes(1)
    expect(held(db, key(179))).toBe(described(79, 64 * 1024))
  })

  it('a batch written after its database closed is refused with a typed error, not written through a dead handle', async () => {
    const { db, blocks } = await open()
    const batch = startBatch(db, blocks)
    batch.put(key(3), value(3, 10))
    await db.close()
    const err = await batch.write(false).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(WriteFailedError)
    expect(String((err as Error).message)).toMatch(/not open/)
    await db.open()
    expect(db.getSync(key(3))).toBeUndefined()
  })

  it('two batches in flight both land (each takes its own native batch)', async () => {
    const { db, blocks } = await open()
    const a = startBatch(db, blocks)
    const b = startBatch(db, blocks)
    for (let i = 0; i < 100; i++) { a.put(key(i), value(i, 200)); b.put(key(1000 + i), value(i, 300)) }
    await Promise.all([a.write(false), b.write(false)])
    for (let i = 0; i < 100; i++) {
      expect(bytesOf(db.getSync(key(i)))).toEqual(bytesOf(value(i, 200)))
      expect(bytesOf(db.getSync(key(1000 + i)))).toEqual(bytesOf(value(i, 300)))
    }
  })
})
