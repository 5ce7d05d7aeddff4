import { cp } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { CURRENT_SCHEMA, MIGRATIONS, readSchemaVersion, readStoreId, runMigrations, encodeSchemaVersion, type Migration } from '../src/migrations/index.ts'
import { createChainStore } from '../src/index.ts'
import { parseConfig } from '../src/config/index.ts'
import { META_SCHEMA } from '../src/storage/keys.ts'
import { openLevel } from '../src/storage/level.ts'
import { verifyStore } from '../src/integrity/index.ts'
import { quietLogger, tempDir } from './helpers/store.ts'

const FIXTURE = fileURLToPath(new URL('./fixtures/v1-store', import.meta.url))
const cleanups: Array<() => Promise<void>> = []
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c() })

async function fixtureCopy (): Promise<string> {
  const { dir, cleanup } = await tempDir('chainstore-migrate-')
  cleanups.push(cleanup)
  const dataDir = join(dir, 'data')
  await cp(FIXTURE, dataDir, { recursive: true })
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
    expect(progress).toContain('1/1 store-identity 1/1')
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
    const broken: Migration = { to: 3, name: 'broken', async run (batch) { batch.put(Uint8Array.of(0x01, 0x7a), Uint8Array.of(1)); throw new Error('disk full') } }
    await expect(runMigrations(db, { migrations: [...MIGRATIONS, broken], target: 3 })).rejects.toMatchObject({ name: 'MigrationFailedError' })
    expect(readSchemaVersion(db)).toBe(2)
    expect(db.getSync(Uint8Array.of(0x01, 0x7a))).toBeUndefined()
    await db.close()
  })
})
