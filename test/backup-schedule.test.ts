import { Writable } from 'node:stream'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { BackupScheduler, createBackup, listBackups, openDestination, pruneBackups, type DestinationSpec } from '../src/backup/index.ts'
import { createChainStore } from '../src/index.ts'
import { startS3rver, type ObjectServer } from './helpers/object-servers.ts'
import { openTestStore, quietLogger, tempDir } from './helpers/store.ts'
import { until } from './helpers/wait.ts'

let s3: ObjectServer
beforeAll(async () => { s3 = await startS3rver() })
afterAll(async () => { await s3?.stop() })
const cleanups: Array<() => Promise<void>> = []
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c() })

async function source (blocks: number) {
  const t = await openTestStore()
  cleanups.push(t.cleanup)
  await t.store.storeBlocks(t.chain.take(blocks, t.store.config.limits))
  return t
}

async function dir (): Promise<string> {
  const t = await tempDir('chainstore-bk-')
  cleanups.push(t.cleanup)
  return join(t.dir, 'bk')
}

let n = 0

describe('backup retention and schedule', () => {
  it('retention keeps the newest N and every backup they depend on; whole chains go; cut-short uploads are removed', async () => {
    const t = await source(3)
    const bk = await dir()
    const kinds = [false, true, true, false, true]
    const ids: string[] = []
    for (const incremental of kinds) {
      await t.store.storeBlocks(t.chain.take(1, t.store.config.limits))
      ids.push((await createBackup(t.store, bk, { incremental })).id)
    }
    // keep 2: the newest two are the second full and its incremental; the first chain goes whole
    expect(await pruneBackups(bk, 2, { dryRun: true })).toMatchObject({ kept: ids.slice(3), deleted: ids.slice(0, 3) })
    // keep 3: the 3rd newest is an incremental of the first chain, which needs its whole chain: nothing goes
    expect((await pruneBackups(bk, 3, { dryRun: true })).deleted).toEqual([])
    // an upload cut short (objects, no manifest) older than the newest backup
    const d = await openDestination(bk)
    await d.write('20000101T000000000Z-full/chain.car', (async function * () { yield Buffer.from('half') })())
    const r = await pruneBackups(bk, 1)
    expect(r).toMatchObject({ kept: ids.slice(3), deleted: ids.slice(0, 3), orphans: ['20000101T000000000Z-full'] })
    expect((await listBackups(bk)).map(b => b.id)).toEqual(ids.slice(3))
    const left: string[] = []
    for await (const o of d.list('')) left.push(o.key.split('/')[0])
    expect([...new Set(left)].sort()).toEqual(ids.slice(3))
  })

  it('the scheduler writes full then incremental backups to each destination, applies retention and counts them in the metrics; logs carry no credential', async () => {
    const t = await source(4)
    const lines: string[] = []
    const logger = pino({ level: 'debug' }, new Writable({ write (c, _e, cb) { lines.push(String(c)); cb() } }))
    const s3spec: DestinationSpec = { ...s3.spec('chainstore-bk', `sched${++n}`), keep: 2 }
    process.env.CS_TEST_SCHED_WRONG = 'wrong-sched-secret-31f0'
    const bad: DestinationSpec = { ...s3.spec('chainstore-bk', `sched${++n}`), accessKeyIdEnv: 'CS_TEST_SCHED_WRONG', secretAccessKeyEnv: 'CS_TEST_SCHED_WRONG' }
    const local: DestinationSpec = { url: await dir(), keep: 3 }
    const s = new BackupScheduler({ store: t.store, destinations: [{ name: 'cloud', spec: s3spec }, { name: 'local', spec: local }, { name: 'bad', spec: bad }], intervalMs: null, fullEvery: 2, metrics: t.store.metrics, logger })
    const kinds: string[] = []
    for (let i = 0; i < 4; i++) {
      await t.store.storeBlocks(t.chain.take(2, t.store.config.limits))
      const out = await s.runOnce()
      kinds.push(out.filter(o => o.name === 'cloud').map(o => o.result?.manifest.kind).join())
      expect(out.find(o => o.name === 'bad')?.error?.name).toBe('DestinationAuthError')
    }
    expect(kinds).toEqual(['full', 'incremental', 'full', 'incremental'])
    expect((await listBackups(s3spec)).map(b => b.manifest.kind)).toEqual(['full', 'incremental'])
    // keep 3: the newest three include the first chain's incremental, so its full stays too
    expect((await listBackups(local)).map(b => b.manifest.kind)).toEqual(['full', 'incremental', 'full', 'incremental'])
    const text = await t.store.metrics.registry.metrics()
    expect(text).toContain('chainstore_backup_runs_total{destination="cloud",outcome="ok"} 4')
    expect(text).toContain('chainstore_backup_runs_total{destination="bad",outcome="failed"} 4')
    expect(text).toContain('chainstore_backup_pruned_total{destination="cloud"} 2')
    expect(text).toMatch(/chainstore_backup_last_success_timestamp_seconds\{destination="local"\} \d+/)
    const log = lines.join('')
    expect(log).toContain('backup failed')
    for (const secret of [...s3.secrets, 'wrong-sched-secret-31f0']) expect(log).not.toContain(secret)
    Reflect.deleteProperty(process.env, 'CS_TEST_SCHED_WRONG')
  })

  it('a node with backup.schedule configured backs up on its own', async () => {
    const { dir: d, cleanup } = await tempDir()
    cleanups.push(cleanup)
    const bk = join(d, 'bk')
    const store = await createChainStore({ dataDir: join(d, 'data'), backup: { destinations: [{ name: 'here', url: bk }], schedule: { intervalMs: 1000 } } }, { logger: quietLogger })
    cleanups.push(async () => { await store.stop() })
    await until(async () => (await listBackups(bk).catch(() => [])).length >= 1, 30_000, 'a scheduled backup')
  })
})
