/** `level.compression`: snappy on LevelDB's table blocks, or none. */
import { afterEach, describe, expect, it } from 'vitest'
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { LEVEL_DIR, openLevel } from '../src/storage/level.ts'
import { checkTables } from '../src/storage/tables.ts'
import { tempDir } from './helpers/store.ts'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => { while (cleanups.length > 0) await cleanups.pop()!() })

const KEYS = 64
/** 32 KiB that snappy shrinks well: a counter in a field of zeros, as padded calldata is. */
const value = (i: number): Uint8Array => { const v = new Uint8Array(32 * 1024); v[0] = i; v[4096] = i; return v }

/** Writes 2 MiB of compressible values, reopens (LevelDB turns its log into a table), reads them back; the tables' bytes on disk. */
async function tableBytes (compression: boolean | undefined): Promise<number> {
  const t = await tempDir('chainstore-compression-')
  cleanups.push(t.cleanup)
  const tuning = { writeBufferSize: 8 << 20, cacheSize: 8 << 20, ...(compression == null ? {} : { compression }) }
  let { db } = await openLevel(t.dir, tuning)
  for (let i = 0; i < KEYS; i++) await db.put(Uint8Array.of(1, i), value(i))
  await db.close()
  ;({ db } = await openLevel(t.dir, tuning))
  for (let i = 0; i < KEYS; i++) expect([...(await db.get(Uint8Array.of(1, i)))!]).toEqual([...value(i)])
  await db.close()
  const dir = join(t.dir, LEVEL_DIR)
  const tables = (await readdir(dir)).filter(f => f.endsWith('.ldb'))
  expect(tables.length).toBeGreaterThan(0)
  // the table check reads both block types
  expect((await checkTables(t.dir, dir, 'all')).damaged).toEqual([])
  let bytes = 0
  for (const f of tables) bytes += (await stat(join(dir, f))).size
  return bytes
}

describe('level.compression', () => {
  it('is on by default (snappy), and off writes table blocks uncompressed; both read back and pass the table check', async () => {
    const raw = KEYS * 32 * 1024
    const byDefault = await tableBytes(undefined)
    const off = await tableBytes(false)
    expect(byDefault).toBeLessThan(raw / 4)
    expect(off).toBeGreaterThanOrEqual(raw)
  })
})
