import { execFile } from 'node:child_process'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterEach, describe, expect, it } from 'vitest'
import { startReadApi } from '../src/api/server.ts'
import { setAsideTables, verifyStore } from '../src/integrity/index.ts'
import { DamagedTablesError, type ChainStore } from '../src/index.ts'
import { LEVEL_DIR } from '../src/storage/level.ts'
import { checkTableBytes, checkTables, TABLE_LEDGER } from '../src/storage/tables.ts'
import type { BlockInput } from '../src/codec/types.ts'
import { openTestStore, quietLogger } from './helpers/store.ts'

const execFileP = promisify(execFile)
const cleanups: Array<() => Promise<void>> = []
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c() })

/**
 * A source store serving its chain over its trustless gateway, and a copy
 * written with a small write buffer (so LevelDB has several table files),
 * stopped: its data dir is ready to be damaged.
 */
async function pair (n = 120) {
  const a = await openTestStore({}, { txsPerBlock: 40 })
  cleanups.push(a.cleanup)
  const blocks: BlockInput[] = a.chain.take(n, a.store.config.limits)
  for (let i = 0; i < n; i += 10) await a.store.storeBlocks(blocks.slice(i, i + 10))
  const api = await startReadApi(a.store, { host: '127.0.0.1', port: 0, logger: quietLogger })
  cleanups.push(async () => { await api.close() })
  const gateways = { enabled: true, urls: [api.url], timeoutMs: 5_000, stallMs: 2_000 }
  const b = await openTestStore({ gateways, level: { writeBufferSize: 1 << 20 } }, { txsPerBlock: 40 })
  cleanups.push(b.cleanup)
  for (let i = 0; i < n; i += 10) await b.store.storeBlocks(blocks.slice(i, i + 10))
  await b.store.stop()
  return { a: a.store, b, gateways, n, dataDir: join(b.dir, 'data'), level: join(b.dir, 'data', LEVEL_DIR) }
}

/** The largest table file and its bytes. */
async function largestTable (level: string): Promise<{ name: string, bytes: Buffer }> {
  const tables = []
  for (const name of (await readdir(level)).filter(f => f.endsWith('.ldb'))) tables.push({ name, bytes: await readFile(join(level, name)) })
  tables.sort((x, y) => y.bytes.length - x.bytes.length)
  return tables[0]
}

async function expectSameChain (store: ChainStore, source: ChainStore, n: number): Promise<void> {
  for (let h = 0; h < n; h++) {
    const block = store.getBlockSync(h)
    expect(block.cid.equals(source.getHeaderSync(h).cid)).toBe(true)
    expect(block.transactions.length).toBe(40)
  }
}

describe('table files checked before LevelDB opens them', () => {
  it('every block of a sound table passes; a flip in a data block, the index or the footer is found; the ledger skips checked tables', async () => {
    const { dataDir, level } = await pair(60)
    const first = await checkTables(dataDir, level, 'changed')
    expect(first.tables).toBeGreaterThanOrEqual(1)
    expect(first.checked).toBe(first.tables)
    expect(first.damaged).toEqual([])
    expect(Object.keys(JSON.parse(await readFile(join(dataDir, TABLE_LEDGER), 'utf8')).tables)).toHaveLength(first.tables)
    expect((await checkTables(dataDir, level, 'changed')).checked).toBe(0)
    expect((await checkTables(dataDir, level, 'all')).checked).toBe(first.tables)
    const { bytes } = await largestTable(level)
    expect(checkTableBytes(bytes)).toBeNull()
    const flipped = (at: number): Buffer => { const c = Buffer.from(bytes); c[at] ^= 0x10; return c }
    const data = checkTableBytes(flipped(100))
    expect(data).toMatchObject({ badBlocks: 1, reason: expect.stringContaining('checksum mismatch') })
    expect(data!.blocks).toBeGreaterThan(10)
    expect(checkTableBytes(flipped(bytes.length - 2))?.reason).toContain('bad magic number')
    // the index block sits just before the footer (and the meta-index)
    expect(checkTableBytes(flipped(bytes.length - 60))).not.toBeNull()
    expect(checkTableBytes(bytes.subarray(0, 30))?.reason).toContain('shorter than a table footer')
  })

  it('a table file the manifest does not name (a compaction cut short by kill -9) is not checked: LevelDB never reads it and deletes it at open', async () => {
    const { b, dataDir, level, n } = await pair(40)
    const { bytes } = await largestTable(level)
    // what a killed compaction leaves: the start of a table, no footer, under a number the manifest never got
    await writeFile(join(level, '009999.ldb'), bytes.subarray(0, Math.floor(bytes.length / 2)))
    const check = await checkTables(dataDir, level, 'all')
    expect(check.damaged).toEqual([])
    const store = await b.reopen()
    expect(store.head()?.height).toBe(n - 1)
    expect((await readdir(level)).includes('009999.ldb')).toBe(false)
  })

  it('a damaged table refuses the open with DamagedTablesError naming it; set aside, what it held is fetched back from a gateway and reindexed: the same chain, writes go on', async () => {
    const { a, b, dataDir, level, n } = await pair(120)
    const { name, bytes } = await largestTable(level)
    bytes[Math.floor(bytes.length / 2)] ^= 0x04
    await writeFile(join(level, name), bytes)
    const refused = await b.reopen().catch(e => e)
    expect(refused).toBeInstanceOf(DamagedTablesError)
    expect(refused.message).toContain(name)
    expect(refused.message).toContain('chainstore verify --repair')
    expect((refused as DamagedTablesError).tables.map(t => t.file)).toEqual([name])
    const dir = await setAsideTables(dataDir, refused.tables)
    expect(await readdir(dir)).toEqual([name])
    const store = await b.reopen()
    const repaired = await verifyStore(store, { repair: true, reindex: true })
    expect(repaired.refetched).toBeGreaterThan(0)
    expect(repaired.unfixed).toEqual([])
    expect((await verifyStore(store)).problems).toBe(0)
    await expectSameChain(store, a, n)
    const next = b.chain.take(n + 1, store.config.limits).slice(n)
    expect((await store.storeBlocks(next))[0].height).toBe(n)
  })

  it('`chainstore verify` names damaged tables and exits 1 without opening LevelDB on them; `verify --repair` sets them aside and rebuilds from a gateway, exit 0', async () => {
    const { a, b, dataDir, level, n, gateways } = await pair(80)
    const { name, bytes } = await largestTable(level)
    bytes[Math.floor(bytes.length / 3)] ^= 0x40
    await writeFile(join(level, name), bytes)
    const config = join(b.dir, 'node.json')
    await writeFile(config, JSON.stringify({ dataDir, gateways }))
    const cli = async (args: string[]) => await execFileP(process.execPath, ['src/cli/main.ts', '-c', config, '--json', ...args], { timeout: 120_000 }).then(r => ({ code: 0, ...r }), (e: any) => ({ code: e.code as number, stdout: e.stdout as string, stderr: e.stderr as string }))
    const found = await cli(['verify'])
    expect(found.code).toBe(1)
    const report = JSON.parse(found.stdout)
    expect(report.counts).toEqual({ 'damaged-table': 1 })
    expect(report.tables[0].file).toBe(name)
    const repaired = await cli(['verify', '--repair'])
    expect(repaired.code, repaired.stderr).toBe(0)
    const summary = JSON.parse(repaired.stdout)
    expect(summary.counts['damaged-table']).toBe(1)
    expect(summary.salvage.salvaged).toBeGreaterThan(0) // the damaged table's sound data blocks
    expect(summary.salvage.refused).toBe(0)
    expect(summary.unfixed).toEqual([])
    expect((await cli(['verify'])).code).toBe(0)
    const store = await b.reopen()
    await expectSameChain(store, a, n)
  })
})
