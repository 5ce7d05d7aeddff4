import { cp, readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CarReader } from '@ipld/car/reader'
import { CarWriter } from '@ipld/car/writer'
import { afterEach, describe, expect, it } from 'vitest'
import { createBackup, listBackups, restoreBackup, verifyBackup } from '../src/backup/index.ts'
import { createChainStore, type ChainStore } from '../src/index.ts'
import { StateStore, emptyAccount } from '../src/state/index.ts'
import { openTestStore, quietLogger, tempDir } from './helpers/store.ts'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c() })

function addr (i: number): Uint8Array { const a = new Uint8Array(20); a[19] = i; a[0] = 0xaa; return a }

async function withState (store: ChainStore, fromHeight: number, toHeight: number): Promise<Map<number, string>> {
  const m = store.maintenance()
  const state = await StateStore.open({ db: m.db, blocks: m.blocks, sync: false, logger: quietLogger })
  const roots = new Map<number, string>()
  for (let h = fromHeight; h <= toHeight; h++) {
    await state.put(addr(h % 7), { ...emptyAccount(), balance: BigInt(h * 1000), nonce: h })
    roots.set(h, (await state.commit(h)).root.toString())
  }
  await state.close()
  return roots
}

async function source (blocks: number) {
  const t = await openTestStore()
  cleanups.push(t.cleanup)
  await t.store.storeBlocks(t.chain.take(blocks, t.store.config.limits))
  return t
}

async function freshStore (): Promise<{ store: ChainStore, dataDir: string }> {
  const { dir, cleanup } = await tempDir()
  const dataDir = join(dir, 'data')
  const store = await createChainStore({ dataDir }, { logger: quietLogger })
  cleanups.push(async () => { await store.stop(); await cleanup() })
  return { store, dataDir }
}

async function sameChain (a: ChainStore, b: ChainStore, upTo: number): Promise<void> {
  for (let h = 0; h <= upTo; h++) {
    const x = await a.getBlock(h)
    const y = await b.getBlock(h)
    expect(y.cid.toString()).toBe(x.cid.toString())
    expect(y.txIds.map(String)).toEqual(x.txIds.map(String))
  }
  const tx = (await a.getBlock(upTo)).txIds[0]
  expect((await b.getTransaction(tx)).height).toBe(upTo)
  const from = (await a.getTransaction(tx)).transaction.from
  expect((await b.getAddressHistory(from, { limit: 1000 })).items.filter(i => i.height <= upTo).length)
    .toBe((await a.getAddressHistory(from, { limit: 1000 })).items.filter(i => i.height <= upTo).length)
}

async function backupDir (): Promise<string> {
  const { dir, cleanup } = await tempDir('chainstore-backups-')
  cleanups.push(cleanup)
  return dir
}

describe('backups', () => {
  it('full + incremental round trip into fresh stores, state and pins included, CARs readable by CarReader', async () => {
    const t = await source(30)
    const roots = await withState(t.store, 0, 29)
    const blob = await t.store.addFile(new Uint8Array(600_000).map((_, i) => i % 253))
    const user = await t.store.putBytes(new TextEncoder().encode('user bytes'))
    const dir = await backupDir()
    const phases = new Set<string>()
    const full = await createBackup(t.store, dir, { onProgress: p => phases.add(p.phase) })
    expect(full.manifest.kind).toBe('full')
    expect(full.manifest.from).toBe(0)
    expect(full.manifest.to).toBe(29)
    expect(full.manifest.stateRoot?.toString()).toBe(roots.get(29))
    expect(phases.has('chain')).toBe(true)

    await t.store.storeBlocks(t.chain.take(15, t.store.config.limits))
    const roots2 = await withState(t.store, 30, 44)
    const inc = await createBackup(t.store, dir, { incremental: true })
    expect(inc.manifest.kind).toBe('incremental')
    expect(inc.manifest.previous?.toString()).toBe(full.manifestCid.toString())
    expect([inc.manifest.from, inc.manifest.to]).toEqual([30, 44])
    expect(inc.manifest.blocks).toBeLessThan(full.manifest.blocks)

    expect((await listBackups(dir)).map(b => b.id)).toEqual([full.id, inc.id])
    const v = await verifyBackup(dir)
    expect(v.backups.length).toBe(2)

    // stock tools read every CAR
    for (const b of [full, inc]) {
      for (const f of b.manifest.files) {
        const reader = await CarReader.fromBytes(await readFile(join(b.dir, f.name)))
        expect((await reader.getRoots())[0].toString()).toBe(f.root.toString())
        let n = 0
        for await (const _ of reader.blocks()) n++
        expect(n).toBe(f.blocks)
      }
    }

    // restore everything into a fresh store
    const { store: fresh } = await freshStore()
    const r = await restoreBackup(dir, fresh)
    expect(r.head?.height).toBe(44)
    expect(fresh.head()?.cid.toString()).toBe(t.store.head()?.cid.toString())
    await sameChain(t.store, fresh, 44)
    let length = 0
    for await (const chunk of fresh.cat(blob)) length += chunk.length
    expect(length).toBe(600_000)
    expect(new TextDecoder().decode(await fresh.getBytes(user))).toBe('user bytes')
    const m = fresh.maintenance()
    const state = await StateStore.open({ db: m.db, blocks: m.blocks, sync: false, logger: quietLogger })
    expect(state.head()?.root.toString()).toBe(roots2.get(44))
    expect((await state.get(addr(44 % 7)))?.balance).toBe(44_000n)
    expect((await state.rootAt(10))?.toString()).toBe(roots.get(10))
    await state.close()
    // GC keeps everything restored: it is all pinned
    expect((await fresh.gc()).incompletePins).toBe(0)
    await sameChain(t.store, fresh, 44)
  })

  it('point-in-time restore: blocks up to H and the state root at H, into a data dir', async () => {
    const t = await source(25)
    const roots = await withState(t.store, 0, 24)
    const dir = await backupDir()
    await createBackup(t.store, dir)
    await t.store.storeBlocks(t.chain.take(10, t.store.config.limits))
    await withState(t.store, 25, 34)
    await createBackup(t.store, dir, { incremental: true })
    const { dir: tdir, cleanup } = await tempDir()
    cleanups.push(cleanup)
    const r = await restoreBackup(dir, join(tdir, 'data'), { height: 17 })
    expect(r.head?.height).toBe(17)
    expect(r.stateRoot?.toString()).toBe(roots.get(17))
    const store = await createChainStore({ dataDir: join(tdir, 'data') }, { logger: quietLogger })
    cleanups.push(async () => { await store.stop() })
    expect(store.head()?.height).toBe(17)
    await sameChain(t.store, store, 17)
    await expect(store.getBlock(18)).rejects.toMatchObject({ name: 'BlockNotFoundError' })
    const m = store.maintenance()
    const state = await StateStore.open({ db: m.db, blocks: m.blocks, sync: false, logger: quietLogger })
    expect(state.head()?.root.toString()).toBe(roots.get(17))
    expect((await state.get(addr(17 % 7)))?.nonce).toBe(17)
    await state.close()
    await expect(restoreBackup(dir, join(tdir, 'other'), { height: 99 })).rejects.toMatchObject({ name: 'InvalidBackupOptionsError' })
  })

  it('rejects bit flips, truncation, reordering and a broken manifest chain; restore refuses each', async () => {
    const t = await source(20)
    await withState(t.store, 0, 19)
    await t.store.addFile(new Uint8Array(300_000).map((_, i) => i % 7))
    const pristine = await backupDir()
    const full = await createBackup(t.store, pristine)
    await t.store.storeBlocks(t.chain.take(5, t.store.config.limits))
    const inc = await createBackup(t.store, pristine, { incremental: true })
    await verifyBackup(pristine)

    const damaged = async (fn: (dir: string) => Promise<void>): Promise<string> => {
      const dir = await backupDir()
      await cp(pristine, dir, { recursive: true })
      await fn(dir)
      return dir
    }
    const refused = async (dir: string, name: string, detail: Record<string, unknown> = {}): Promise<void> => {
      await expect(verifyBackup(dir)).rejects.toMatchObject({ name, detail: expect.objectContaining(detail) })
      const { store } = await freshStore()
      await expect(restoreBackup(dir, store)).rejects.toMatchObject({ name })
      expect(store.head()).toBeNull()
    }

    // a bit flip inside a block's bytes (the middle of the chain CAR lies inside a page)
    const chainCar = join(full.id, 'chain.car')
    await refused(await damaged(async dir => {
      const bytes = await readFile(join(dir, chainCar))
      bytes[Math.floor(bytes.length / 2)] ^= 0x10
      await writeFile(join(dir, chainCar), bytes)
    }), 'BackupCorruptError', { backup: full.id, file: 'chain.car' })

    // truncated: the file ends inside a block
    await refused(await damaged(async dir => {
      const bytes = await readFile(join(dir, chainCar))
      await truncate(join(dir, chainCar), bytes.length - 100)
    }), 'BackupTruncatedError', { file: 'chain.car' })

    // reordered: the same blocks, a valid CAR, two blocks swapped
    await refused(await damaged(async dir => {
      const reader = await CarReader.fromBytes(await readFile(join(dir, chainCar)))
      const all = []
      for await (const b of reader.blocks()) all.push(b)
      ;[all[3], all[4]] = [all[4], all[3]]
      const { writer, out } = CarWriter.create(await reader.getRoots())
      const chunks: Uint8Array[] = []
      const done = (async () => { for await (const c of out) chunks.push(c) })()
      for (const b of all) await writer.put(b)
      await writer.close()
      await done
      await writeFile(join(dir, chainCar), Buffer.concat(chunks))
    }), 'BackupOrderError', { file: 'chain.car', block: 3 })

    // a state node missing from the state CAR (rewritten without it): incomplete DAG
    await refused(await damaged(async dir => {
      const file = join(dir, full.id, 'state.car')
      const reader = await CarReader.fromBytes(await readFile(file))
      const all = []
      for await (const b of reader.blocks()) all.push(b)
      all.splice(all.length - 1, 1)
      const { writer, out } = CarWriter.create(await reader.getRoots())
      const chunks: Uint8Array[] = []
      const done = (async () => { for await (const c of out) chunks.push(c) })()
      for (const b of all) await writer.put(b)
      await writer.close()
      await done
      await writeFile(file, Buffer.concat(chunks))
    }), 'BackupTruncatedError', { file: 'state.car' })

    // broken manifest chain: the full backup is gone
    await refused(await damaged(async dir => { await rm(join(dir, full.id), { recursive: true }) }), 'BackupChainError', { backup: inc.id })
    // or its manifest altered (its CID no longer matches the link)
    const altered = await damaged(async dir => {
      const file = join(dir, full.id, 'manifest.cbor')
      const bytes = await readFile(file)
      bytes[bytes.length - 3] ^= 0x01
      await writeFile(file, bytes)
    })
    await expect(verifyBackup(altered, inc.id)).rejects.toMatchObject({ name: 'BackupChainError' })
    await expect(verifyBackup(altered)).rejects.toMatchObject({ name: expect.stringMatching(/^Backup(Manifest|Chain)Error$/) })
    const { store } = await freshStore()
    await expect(restoreBackup(altered, store)).rejects.toMatchObject({ name: 'BackupChainError' })
    expect((await readdir(pristine)).length).toBe(2)
  })
})
