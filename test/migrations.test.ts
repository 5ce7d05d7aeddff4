import { cp, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { CURRENT_SCHEMA, MIGRATIONS, readSchemaVersion, readStoreId, runMigrations, encodeSchemaVersion, type Migration } from '../src/migrations/index.ts'
import { createChainStore } from '../src/index.ts'
import { parseConfig } from '../src/config/index.ts'
import { META_SCHEMA, PREFIX, prefixRange } from '../src/storage/keys.ts'
import { META_POSTINGS_CONVERTED, convertToPostings } from '../src/migrations/postings.ts'
import { chainAddresses, indexAnswers } from './helpers/index-answers.ts'
import { openLevel } from '../src/storage/level.ts'
import { verifyStore } from '../src/integrity/index.ts'
import { quietLogger, tempDir } from './helpers/store.ts'

const FIXTURE = fileURLToPath(new URL('./fixtures/v1-store', import.meta.url))
const FIXTURE_V2 = fileURLToPath(new URL('./fixtures/v2-store', import.meta.url))
const V2_ANSWERS = fileURLToPath(new URL('./fixtures/v2-store.answers.json', import.meta.url))
const cleanups: Array<() => Promise<void>> = []
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c() })

async function fixtureCopy (fixture = FIXTURE): Promise<string> {
  const { dir, cleanup } = await tempDir('chainstore-migrate-')
  cleanups.push(cleanup)
  const dataDir = join(dir, 'data')
  await cp(fixture, dataDir, { recursive: true })
  return dataDir
}

async function openDb (dataDir: string) {
  const { db } = await openLevel(dataDir, parseConfig({}).level)
  return db
}

describe('migrations', () => {
  it('upgrades the committed v1 fixture to the current schema, idempotently, and the store reads it', async () => {
    const dataDir = await fixtureCopy()
    const db = await openDb(dataDir)
    expect(readSchemaVersion(db)).toBe(1)
    expect(readStoreId(db)).toBeNull()
    const progress: string[] = []
    const r = await runMigrations(db, { logger: quietLogger, onProgress: p => progress.push(`${p.step}/${p.of} ${p.name} ${p.done}/${p.total}`) })
    expect(r).toEqual({ from: 1, to: CURRENT_SCHEMA, applied: MIGRATIONS.map(m => m.name) })
    expect(progress).toContain(`1/${MIGRATIONS.length} store-identity 1/1`)
    expect(progress).toContain(`2/${MIGRATIONS.length} index-postings 3/3`)
    expect(progress.some(p => p.startsWith(`3/${MIGRATIONS.length} record-checksums`))).toBe(true)
    expect(progress.some(p => p.startsWith(`4/${MIGRATIONS.length} log-checksums`))).toBe(true)
    expect(readSchemaVersion(db)).toBe(CURRENT_SCHEMA)
    const id = readStoreId(db)
    expect(id).toMatch(/^[0-9a-f]{32}$/)
    // a second run does nothing and keeps the id
    expect(await runMigrations(db)).toEqual({ from: CURRENT_SCHEMA, to: CURRENT_SCHEMA, applied: [] })
    expect(readStoreId(db)).toBe(id)
    await db.close()

    const store = await createChainStore({ dataDir }, { logger: quietLogger })
    cleanups.push(async () => { await store.stop() })
    expect(store.head()?.height).toBe(11)
    const b = await store.getBlock(7)
    expect(b.transactions.length).toBeGreaterThanOrEqual(3)
    expect((await store.getTransaction(b.txIds[0])).height).toBe(7)
    const s = await verifyStore(store)
    expect(s.problems).toBe(0)
    expect(s.storeId).toBe(id)
  })

  it('refuses a store from a newer version, naming both versions, and writes nothing', async () => {
    const dataDir = await fixtureCopy()
    const db = await openDb(dataDir)
    await db.put(META_SCHEMA, encodeSchemaVersion(CURRENT_SCHEMA + 5))
    await expect(runMigrations(db)).rejects.toMatchObject({ name: 'SchemaTooNewError', storeVersion: CURRENT_SCHEMA + 5, codeVersion: CURRENT_SCHEMA, message: expect.stringContaining(`${CURRENT_SCHEMA + 5}`) })
    expect(readStoreId(db)).toBeNull()
    await db.close()
  })

  it('a failing step leaves the store at the version before it (each step is one batch)', async () => {
    const dataDir = await fixtureCopy()
    const db = await openDb(dataDir)
    const broken: Migration = { to: CURRENT_SCHEMA + 1, name: 'broken', async run (batch) { batch.put(Uint8Array.of(0x01, 0x7a), Uint8Array.of(1)); throw new Error('disk full') } }
    await expect(runMigrations(db, { migrations: [...MIGRATIONS, broken], target: CURRENT_SCHEMA + 1 })).rejects.toMatchObject({ name: 'MigrationFailedError' })
    expect(readSchemaVersion(db)).toBe(CURRENT_SCHEMA)
    expect(db.getSync(Uint8Array.of(0x01, 0x7a))).toBeUndefined()
    await db.close()
  })

  it('upgrades the committed v2 fixture to posting lists: every history, log and transaction answer stays as schema 2 gave it', async () => {
    const dataDir = await fixtureCopy(FIXTURE_V2)
    const db = await openDb(dataDir)
    expect(readSchemaVersion(db)).toBe(2)
    const legacy = async (): Promise<number> => {
      let n = 0
      for (const p of [PREFIX.ADDRESS, PREFIX.LOG, PREFIX.LOG_ADDRESS, PREFIX.LOG_TOPIC]) for await (const _ of db.keys(prefixRange(Uint8Array.of(p)))) n++
      return n
    }
    expect(await legacy()).toBeGreaterThan(100)
    expect(await runMigrations(db, { logger: quietLogger })).toEqual({ from: 2, to: CURRENT_SCHEMA, applied: ['index-postings', 'record-checksums', 'log-checksums', 'window-postings'] })
    expect(await legacy()).toBe(0)
    expect(db.getSync(META_POSTINGS_CONVERTED)).toBeUndefined()
    // schema 6: no per-block posting key is left, the window keys hold them
    const keys = async (p: number): Promise<number> => (await db.keys(prefixRange(Uint8Array.of(p))).all()).length
    for (const p of [PREFIX.ADDRESS_POSTINGS, PREFIX.LOG_ADDRESS_POSTINGS, PREFIX.LOG_TOPIC_POSTINGS]) expect(await keys(p)).toBe(0)
    for (const p of [PREFIX.ADDRESS_WINDOW, PREFIX.LOG_ADDRESS_WINDOW, PREFIX.LOG_TOPIC_WINDOW]) expect(await keys(p)).toBeGreaterThan(0)
    await db.close()

    const store = await createChainStore({ dataDir }, { logger: quietLogger })
    cleanups.push(async () => { await store.stop() })
    const expected = JSON.parse(await readFile(V2_ANSWERS, 'utf8')) as Record<string, unknown>
    const answers = JSON.parse(JSON.stringify(await indexAnswers(store, chainAddresses(12, 12)))) as Record<string, unknown>
    expect(Object.keys(answers).sort()).toEqual(Object.keys(expected).sort())
    for (const k of Object.keys(expected)) expect(answers[k], k).toEqual(expected[k])
    expect((await verifyStore(store)).problems).toBe(0)
  })

  it('a conversion cut short re-runs to the same result (old keys stay until the marker is written)', async () => {
    const dataDir = await fixtureCopy(FIXTURE_V2)
    const db = await openDb(dataDir)
    // cut short after the address pass: no marker, every old key still there
    const stop = new AbortController()
    await expect(convertToPostings({ db, signal: stop.signal, progress: done => { if (done === 1) stop.abort() } })).rejects.toThrow()
    expect(db.getSync(META_POSTINGS_CONVERTED)).toBeUndefined()
    // and a stale new entry from the interrupted run, which the re-run must overwrite
    const first = await db.keys({ ...prefixRange(Uint8Array.of(PREFIX.ADDRESS)), limit: 1 }).all()
    await db.put(Uint8Array.of(PREFIX.ADDRESS_POSTINGS, ...first[0].subarray(1, 29)), new Uint8Array(36))
    await runMigrations(db, { logger: quietLogger })
    await db.close()
    const store = await createChainStore({ dataDir }, { logger: quietLogger })
    cleanups.push(async () => { await store.stop() })
    const expected = JSON.parse(await readFile(V2_ANSWERS, 'utf8')) as Record<string, unknown>
    expect(JSON.parse(JSON.stringify(await indexAnswers(store, chainAddresses(12, 12))))).toEqual(expected)
  })
})
