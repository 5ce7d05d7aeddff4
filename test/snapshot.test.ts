import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CarReader } from '@ipld/car/reader'
import { CarWriter } from '@ipld/car/writer'
import * as dagCbor from '@ipld/dag-cbor'
import type { CID } from 'multiformats/cid'
import { afterEach, describe, expect, it } from 'vitest'
import { cidOf } from '../src/codec/cid.ts'
import { createLogger } from '../src/logger.ts'
import { openLevel } from '../src/storage/level.ts'
import { emptyAccount } from '../src/state/account.ts'
import { keccak256 } from '../src/state/keys.ts'
import { StateStore, exportSnapshot, importSnapshot, readSnapshotManifest, type AccountState } from '../src/state/index.ts'

const logger = createLogger({ level: 'silent' })
const LEVEL = { writeBufferSize: 4 * 1024 * 1024, cacheSize: 8 * 1024 * 1024 }
const cleanups: Array<() => Promise<void>> = []
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c() })

async function tempDir (): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'chainstore-snapshot-'))
  cleanups.push(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

async function openState (): Promise<StateStore> {
  const dir = await tempDir()
  const level = await openLevel(dir, LEVEL)
  const state = await StateStore.open({ ...level, sync: false, logger })
  cleanups.push(async () => { await state.close(); await level.db.close() })
  return state
}

function addr (i: number): Uint8Array {
  return keccak256(new TextEncoder().encode(`account ${i}`)).subarray(12)
}

function account (i: number): AccountState {
  return { ...emptyAccount(), balance: BigInt(i) * 10n ** 18n, nonce: i, stake: BigInt(i % 5), validator: i % 4 === 0 ? 'active' : 'none' }
}

const N = 300

/** A state with N accounts over three heights; the snapshot is of height 7. */
async function sourceWithSnapshot (): Promise<{ state: StateStore, file: string, root: CID }> {
  const state = await openState()
  for (let i = 0; i < N; i++) await state.put(addr(i), account(i))
  await state.commit(5)
  for (let i = 0; i < N; i += 10) await state.delete(addr(i))
  const { root } = await state.commit(7)
  await state.put(addr(0), account(12345))
  await state.commit(8)
  const file = join(await tempDir(), 'state-7.car')
  await exportSnapshot(state, 7, file)
  return { state, file, root }
}

/** Every block of a CAR file as stock @ipld/car reads it. */
async function readCar (file: string): Promise<{ roots: CID[], blocks: Array<{ cid: CID, bytes: Uint8Array }> }> {
  const reader = await CarReader.fromBytes(await readFile(file))
  const blocks: Array<{ cid: CID, bytes: Uint8Array }> = []
  for await (const b of reader.blocks()) blocks.push(b)
  return { roots: await reader.getRoots(), blocks }
}

/** Writes a CAR with the given roots and blocks. */
async function writeCar (file: string, roots: CID[], blocks: Array<{ cid: CID, bytes: Uint8Array }>): Promise<void> {
  const { writer, out } = CarWriter.create(roots)
  const chunks: Uint8Array[] = []
  const collected = (async () => { for await (const c of out) chunks.push(c) })()
  for (const b of blocks) await writer.put(b)
  await writer.close()
  await collected
  await writeFile(file, Buffer.concat(chunks))
}

async function expectRefused (file: string, name: string): Promise<void> {
  const into = await openState()
  await expect(importSnapshot(file, into)).rejects.toMatchObject({ name })
  expect(into.head()).toBeUndefined()
}

describe('state snapshots', () => {
  it('round trip: a fresh store restored from the CAR has the same root and answers the same reads', async () => {
    const { state, file, root } = await sourceWithSnapshot()
    const progress: string[] = []
    const into = await openState()
    const manifest = await importSnapshot(file, into, { onProgress: p => progress.push(p.phase) })
    expect(manifest.height).toBe(7)
    expect(manifest.stateRoot.equals(root)).toBe(true)
    expect(into.head()).toEqual({ height: 7, root })
    expect(into.root().equals(root)).toBe(true)
    expect(into.flatFresh).toBe(true)
    for (let i = 0; i < N + 5; i++) {
      const expected = await state.getFromTrie(addr(i), { height: 7 })
      expect(await into.get(addr(i))).toEqual(expected)
      expect(await into.getFromTrie(addr(i))).toEqual(expected)
    }
    expect(progress).toContain('read')
    expect(progress).toContain('check')
    // the restored state proves and goes on
    const p = await into.prove(addr(3))
    expect(await StateStore.verifyProof(root, addr(3), p.nodes)).toEqual(account(3))
    await into.put(addr(1), account(1))
    await into.commit(8)
  })

  it('files are standard CARv1: stock CarReader reads the manifest root and every node, each hashing to its CID', async () => {
    const { file, root } = await sourceWithSnapshot()
    const { roots, blocks } = await readCar(file)
    expect(roots).toHaveLength(1)
    const manifestBlock = blocks.find(b => b.cid.equals(roots[0]))!
    const manifest = dagCbor.decode<any>(manifestBlock.bytes)
    expect(manifest.type).toBe('chainstore/state-snapshot')
    expect(manifest.height).toBe(7)
    expect(manifest.stateRoot.equals(root)).toBe(true)
    expect(cidOf(manifestBlock.bytes).equals(roots[0])).toBe(true)
    const nodes = blocks.filter(b => !b.cid.equals(roots[0]))
    expect(nodes).toHaveLength(manifest.nodes)
    expect(nodes.reduce((n, b) => n + b.bytes.length, 0)).toBe(manifest.bytes)
    for (const b of nodes) {
      expect(b.cid.code).toBe(0x96)
      expect(Buffer.from(keccak256(b.bytes)).equals(Buffer.from(b.cid.multihash.digest))).toBe(true)
    }
    expect(nodes[0].cid.equals(root)).toBe(true)
    const read = await readSnapshotManifest(file)
    expect(read.manifestCid.equals(roots[0])).toBe(true)
    expect(read.nodes).toBe(manifest.nodes)
  })

  it('an empty state round trips to the empty root', async () => {
    const state = await openState()
    const { root } = await state.commit(0)
    const file = join(await tempDir(), 'empty.car')
    const info = await exportSnapshot(state, 0, file)
    expect(info.nodes).toBe(1)
    const into = await openState()
    await importSnapshot(file, into)
    expect(into.head()).toEqual({ height: 0, root })
    expect(await into.get(addr(1))).toBeUndefined()
  })

  it('export refuses a height with no root, and the import hook writes with the root', async () => {
    const { state, file, root } = await sourceWithSnapshot()
    await expect(exportSnapshot(state, 6, join(await tempDir(), 'x.car'))).rejects.toMatchObject({ name: 'UnknownStateHeightError' })
    const into = await openState()
    const hooked: string[] = []
    await importSnapshot(file, into, { onCommit: (_batch, r, h) => { hooked.push(`${h}:${r.toString()}`) } })
    expect(hooked).toEqual([`7:${root.toString()}`])
    // a store already past that height refuses it
    await expect(importSnapshot(file, into)).rejects.toMatchObject({ name: 'StateConflictError' })
  })

  it('a bit flip in a node is refused as corrupt, naming the block', async () => {
    const { file } = await sourceWithSnapshot()
    const bytes = await readFile(file)
    const { blocks } = await readCar(file)
    // flip a byte in the middle of the 10th node's bytes
    const target = blocks[10].bytes
    const at = bytes.indexOf(Buffer.from(target)) + Math.floor(target.length / 2)
    bytes[at] ^= 0x10
    await writeFile(file, bytes)
    const into = await openState()
    const err = await importSnapshot(file, into).catch(e => e)
    expect(err.name).toBe('SnapshotCorruptError')
    expect(err.message).toContain(blocks[10].cid.toString())
    expect(into.head()).toBeUndefined()
  })

  it('a truncated file is refused: mid-block, and at a block boundary (the manifest is written last)', async () => {
    const { file } = await sourceWithSnapshot()
    const bytes = await readFile(file)
    const cut = join(await tempDir(), 'cut.car')
    await writeFile(cut, bytes.subarray(0, Math.floor(bytes.length * 0.6)))
    await expectRefused(cut, 'SnapshotTruncatedError')
    const { roots, blocks } = await readCar(file)
    await writeCar(cut, roots, blocks.filter(b => !b.cid.equals(roots[0])))
    await expectRefused(cut, 'SnapshotTruncatedError')
  })

  it('a missing node, an extra block and a lying manifest are refused', async () => {
    const { file } = await sourceWithSnapshot()
    const { roots, blocks } = await readCar(file)
    const manifestBlock = blocks.find(b => b.cid.equals(roots[0]))!
    const nodes = blocks.filter(b => b !== manifestBlock)
    const bad = join(await tempDir(), 'bad.car')
    await writeCar(bad, roots, [...nodes.slice(0, 20), ...nodes.slice(21), manifestBlock])
    await expectRefused(bad, 'SnapshotIncompleteError')
    // a valid node of another state, not under this root
    const other = await openState()
    await other.put(addr(9999), account(9999))
    const { root: otherRoot } = await other.commit(1)
    await writeCar(bad, roots, [...nodes, { cid: otherRoot, bytes: await other.getNode(otherRoot) }, manifestBlock])
    await expectRefused(bad, 'SnapshotCorruptError')
    // the manifest's counts disagree with the file
    const lying = dagCbor.decode<any>(manifestBlock.bytes)
    lying.nodes += 1
    const lyingBytes = dagCbor.encode(lying)
    const lyingCid = cidOf(lyingBytes)
    await writeCar(bad, [lyingCid], [...nodes, { cid: lyingCid, bytes: lyingBytes }])
    await expectRefused(bad, 'SnapshotManifestError')
    // two roots
    await writeCar(bad, [roots[0], lyingCid], blocks)
    await expectRefused(bad, 'SnapshotManifestError')
  })

  it('a bit flip anywhere in the file is refused with a snapshot error', async () => {
    const { file } = await sourceWithSnapshot()
    const original = await readFile(file)
    const size = (await stat(file)).size
    const flipped = join(await tempDir(), 'flip.car')
    const names = new Set<string>()
    for (let i = 0; i < 24; i++) {
      const bytes = Buffer.from(original)
      const at = i === 0 ? 5 : Math.floor((size - 1) * i / 23)
      bytes[at] ^= 1 << (i % 8)
      await writeFile(flipped, bytes)
      const into = await openState()
      const err = await importSnapshot(flipped, into).catch(e => e)
      expect(err, `flip at byte ${at}`).toBeInstanceOf(Error)
      expect(err.name, `flip at byte ${at}: ${String(err.message)}`).toMatch(/^Snapshot\w+Error$/)
      expect(into.head()).toBeUndefined()
      names.add(err.name)
    }
    expect(names.has('SnapshotCorruptError')).toBe(true)
  })
})
