import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { equals } from 'uint8arrays/equals'
import { decodeHeader } from '../codec/decode.ts'
import { linksOf } from '../codec/links.ts'
import type { PinReason } from '../pinning/records.ts'
import { readCar } from './car.ts'
import { bytesMatchCid } from '../codec/cid.ts'
import { MANIFEST_FILE, CHAIN_PAGE_TYPE, CHAIN_ROOT_TYPE, PINS_ROOT_TYPE, PROGRESS_EVERY, SCOPE_DAG, SCOPE_HEADER, STATE_PAGE_TYPE, STATE_ROOT_TYPE } from './constants.ts'
import { BackupCorruptError, BackupIncompleteError, BackupManifestError, BackupOrderError, BackupTruncatedError, type BackupErrorDetail } from './errors.ts'
import { chainOf, findBackup, readManifest, scanBackups } from './manifest.ts'
import { mhKey } from './read-store.ts'
import type { BackedUpPin, BackupFile, BackupInfo, BackupProgress, VerifyBackupOptions, VerifyBackupResult } from './types.ts'

/** What a verification keeps across the backups of one chain: blocks earlier backups carry (state nodes, pinned DAGs). */
export interface ChainVerifyState {
  known: Set<string>
  done: number
  total: number
  bytes: number
  onProgress?: BackupProgress
  signal?: AbortSignal
}

/** Why a block is expected in a CAR (who linked it, and what it must be). */
type Expect =
  | { kind: 'chain-root' | 'state-root' | 'pins-root', by: null }
  | { kind: 'chain-page' | 'state-page', by: CID }
  | { kind: 'header', height: number, scope: number, by: CID }
  | { kind: 'page', height: number, by: CID }
  | { kind: 'node', by: CID }
  | { kind: 'pin-block', recursive: boolean, by: CID }

function decodeIndex (bytes: Uint8Array, type: string, where: BackupErrorDetail, what: string): any {
  let v: any
  try { v = dagCbor.decode(bytes) } catch (err) { throw new BackupCorruptError(`${what} does not decode`, where, { cause: err }) }
  if (v == null || v.type !== type) throw new BackupCorruptError(`${what} is not a ${type} block`, where)
  return v
}

/**
 * Checks one CAR of a backup: the header names the manifest's root; every
 * block hashes to its CID; the root comes first and every other block comes
 * after a block that links to it (the order it was written in: a reordered
 * file fails here); headers follow the index in height order and link the
 * previous height's header; every block the DAG needs is present (in this
 * file, or for state nodes and pinned DAGs in an earlier backup of the
 * chain); the block count and the file's sha256 match the manifest.
 */
export async function verifyFile (b: BackupInfo, f: BackupFile, ctx: ChainVerifyState, base: CID | null): Promise<{ blocks: number, bytes: number }> {
  const path = join(b.dir, f.name)
  const at = (extra: BackupErrorDetail = {}): BackupErrorDetail => ({ backup: b.id, file: f.name, ...extra })
  const size = await stat(path).then(s => s.size, () => undefined)
  if (size == null) throw new BackupIncompleteError(`backup ${b.id}: ${f.name}, listed in the manifest, is missing`, at())
  const car = await readCar(path, b.id, f.name)
  if (car.roots.length !== 1 || !car.roots[0].equals(f.root)) throw new BackupManifestError(`backup ${b.id}: ${f.name} names root(s) ${car.roots.map(String).join(', ')}, the manifest ${f.root.toString()}`, at())
  const m = b.manifest
  const expected = new Map<string, Expect>()
  const seen = new Set<string>()
  const rootKind = f.kind === 'chain' ? 'chain-root' : f.kind === 'state' ? 'state-root' : 'pins-root'
  expected.set(mhKey(f.root), { kind: rootKind, by: null })
  const known = ctx.known
  // chain continuity: the header CID at each height of the current page, and the last of the page before
  let cidAt = new Map<number, CID>()
  let lastHeight = -1
  let heights = 0
  let count = 0
  let bytes = 0
  // the written order is a depth-first walk from the root: each parent's children arrive in the order it links them
  const queues = new Map<string, { keys: string[], next: number }>()
  const parentOf = new Map<string, string>()
  const expect = (cid: CID, e: Expect): void => {
    const key = mhKey(cid)
    if (e.kind === 'pin-block' || e.kind === 'node') {
      if (known.has(key)) return
      const old = expected.get(key)
      // the latest block to link it is the one it is written under (the writer's walk is a stack)
      if (old?.kind === 'pin-block' && e.kind === 'pin-block' && old.recursive && !e.recursive) e = { ...e, recursive: true }
    } else if (seen.has(key)) return
    expected.set(key, e)
    if (e.by != null) {
      const pk = mhKey(e.by)
      parentOf.set(key, pk)
      let q = queues.get(pk)
      if (q == null) { q = { keys: [], next: 0 }; queues.set(pk, q) }
      q.keys.push(key)
    }
  }
  for await (const { cid, bytes: block, index } of car.blocks()) {
    ctx.signal?.throwIfAborted()
    const where = at({ block: index, cid: cid.toString() })
    const name = `backup ${b.id}: ${f.name} block ${index} (${cid.toString()})`
    if (!bytesMatchCid(cid, block)) throw new BackupCorruptError(`${name} does not hash to its CID (corrupted bytes)`, where)
    const key = mhKey(cid)
    const e = expected.get(key)
    if (e == null) {
      // a copy of a block an earlier backup already carries (its subtree is there too)
      if (known.has(key) && (f.kind === 'state' || f.kind === 'pins')) { count++; bytes += block.length; ctx.done++; ctx.bytes += block.length; continue }
      if (seen.has(key)) throw new BackupOrderError(`${name} appears twice`, where)
      throw new BackupOrderError(`${name} appears before any block that links to it (blocks out of their written order)`, where)
    }
    const pk = e.by != null ? parentOf.get(key) : undefined
    if (pk != null) {
      const q = queues.get(pk)!
      // skip siblings that arrived already or were linked again by a later parent
      while (q.next < q.keys.length && q.keys[q.next] !== key && parentOf.get(q.keys[q.next]) !== pk) q.next++
      if (q.keys[q.next] !== key) {
        throw new BackupOrderError(`${name} comes before ${cidFromKey(q.keys[q.next]).toString()}, which ${e.by!.toString()} links first (blocks out of their written order)`, where)
      }
      q.next++
      if (q.next >= q.keys.length) queues.delete(pk)
    }
    parentOf.delete(key)
    expected.delete(key)
    seen.add(key)
    count++
    bytes += block.length
    switch (e.kind) {
      case 'chain-root': {
        const v = decodeIndex(block, CHAIN_ROOT_TYPE, where, `${name}: the chain index`)
        if (v.from !== m.from || v.to !== m.to) throw new BackupManifestError(`backup ${b.id}: ${f.name} holds heights ${String(v.from)}..${String(v.to)}, the manifest says ${String(m.from)}..${String(m.to)}`, where)
        for (const p of v.pages as CID[]) expect(p, { kind: 'chain-page', by: cid })
        break
      }
      case 'chain-page': {
        const v = decodeIndex(block, CHAIN_PAGE_TYPE, where, `${name}: a chain index page`)
        const prev = cidAt.get(lastHeight)
        cidAt = new Map(prev != null ? [[lastHeight, prev]] : [])
        for (const entry of v.entries as Array<[number, CID, number]>) {
          const [h, c, scope] = entry
          if (!Number.isSafeInteger(h) || h <= lastHeight || h < m.from! || h > m.to! || CID.asCID(c) == null) {
            throw new BackupOrderError(`${name}: index entry for height ${String(h)} out of order or outside ${String(m.from)}..${String(m.to)}`, where)
          }
          lastHeight = h
          heights++
          cidAt.set(h, c)
          if (scope === SCOPE_HEADER || scope === SCOPE_DAG) expect(c, { kind: 'header', height: h, scope, by: cid })
        }
        break
      }
      case 'header': {
        let header
        try { header = decodeHeader(block) } catch (err) { throw new BackupCorruptError(`${name} is indexed as the header at height ${e.height} but does not decode as one`, where, { cause: err }) }
        if (header.height !== e.height) throw new BackupCorruptError(`${name}: the index puts it at height ${e.height}, the header says ${header.height}`, where)
        const parentWanted = e.height === m.from ? (e.height === 0 ? null : base) : cidAt.get(e.height - 1)
        if (parentWanted !== undefined && !(parentWanted == null ? header.parent == null : header.parent?.equals(parentWanted) === true)) {
          throw new BackupCorruptError(`${name}: the header at height ${e.height} links parent ${String(header.parent)}, the chain has ${String(parentWanted)} at height ${e.height - 1} (broken chain)`, where)
        }
        if (e.scope === SCOPE_DAG) for (const p of [...header.txPages, ...header.receiptPages]) expect(p, { kind: 'page', height: e.height, by: cid })
        break
      }
      case 'page': break
      case 'state-root': {
        const v = decodeIndex(block, STATE_ROOT_TYPE, where, `${name}: the state index`)
        const [h, root] = v.head as [number, CID]
        if (m.stateRoot == null || !m.stateRoot.equals(root) || m.stateHeight !== h || m.stateRoots !== v.count) {
          throw new BackupManifestError(`backup ${b.id}: ${f.name} ends at state root ${String(root)} (height ${String(h)}, ${String(v.count)} roots), the manifest says ${String(m.stateRoot)} (height ${String(m.stateHeight)}, ${m.stateRoots} roots)`, where)
        }
        for (const p of v.pages as CID[]) expect(p, { kind: 'state-page', by: cid })
        break
      }
      case 'state-page': {
        const v = decodeIndex(block, STATE_PAGE_TYPE, where, `${name}: a state index page`)
        for (const [, root] of v.roots as Array<[number, CID]>) expect(root, { kind: 'node', by: cid })
        break
      }
      case 'node': {
        known.add(key)
        let links: CID[]
        try { links = linksOf(cid, block) ?? [] } catch (err) { throw new BackupCorruptError(`${name} does not decode as a state trie node`, where, { cause: err }) }
        for (const l of links) expect(l, { kind: 'node', by: cid })
        break
      }
      case 'pins-root': {
        for (const p of decodePins(block, where, name)) expect(p.cid, { kind: 'pin-block', recursive: p.deep.length > 0, by: cid })
        break
      }
      case 'pin-block': {
        known.add(key)
        if (!e.recursive) break
        let links: CID[]
        try { links = linksOf(cid, block) ?? [] } catch (err) { throw new BackupCorruptError(`${name} does not decode under its codec`, where, { cause: err }) }
        for (const l of links) expect(l, { kind: 'pin-block', recursive: true, by: cid })
        break
      }
    }
    ctx.done++
    ctx.bytes += block.length
    if (ctx.done % PROGRESS_EVERY === 0) ctx.onProgress?.({ phase: 'verify', done: ctx.done, total: ctx.total, bytes: ctx.bytes })
  }
  if (count < f.blocks) throw new BackupTruncatedError(`backup ${b.id}: ${f.name} holds ${count} blocks, the manifest counts ${f.blocks} (truncated)`, at({ block: count }))
  const missing = expected.entries().next().value
  if (missing != null) {
    const [, e] = missing
    const cid = cidFromKey(missing[0])
    throw new BackupIncompleteError(`backup ${b.id}: ${f.name} lacks block ${cid.toString()} (${e.kind}${e.by != null ? ` linked by ${e.by.toString()}` : ''}): the DAG is incomplete`, at({ cid: cid.toString() }))
  }
  if (count !== f.blocks) throw new BackupManifestError(`backup ${b.id}: ${f.name} holds ${count} blocks, the manifest counts ${f.blocks}`, at())
  if (f.kind === 'chain' && heights === 0) throw new BackupManifestError(`backup ${b.id}: ${f.name} indexes no heights`, at())
  const sha = car.sha256()
  if (!equals(sha, f.sha256) || size !== f.bytes) {
    throw new BackupCorruptError(`backup ${b.id}: ${f.name}: every block checks out but the file's sha256 (or size, ${size} vs ${f.bytes}) differs from the manifest's: the file was altered`, at())
  }
  return { blocks: count, bytes }
}

function cidFromKey (key: string): CID {
  const mh = Uint8Array.from(Buffer.from(key, 'latin1'))
  // the codec is not in the key; raw names the block well enough for a message
  return CID.createV1(0x55, { code: mh[0], size: mh[1], digest: mh.subarray(2), bytes: mh } as any)
}

function decodePins (bytes: Uint8Array, where: BackupErrorDetail, what: string): BackedUpPin[] {
  const v = decodeIndex(bytes, PINS_ROOT_TYPE, where, `${what}: the pins index`)
  if (!Array.isArray(v.pins)) throw new BackupCorruptError(`${what}: the pins index has no pin list`, where)
  return v.pins.map((p: any) => {
    const cid = CID.asCID(p?.cid)
    if (cid == null || !Array.isArray(p.reasons) || !Array.isArray(p.deep)) throw new BackupCorruptError(`${what}: a pin entry has the wrong shape`, where)
    return { cid, reasons: p.reasons as PinReason[], deep: p.deep as PinReason[], ...(typeof p.height === 'number' ? { height: p.height } : {}) }
  })
}

/** The pin list of a pins.car (its first block, the root), checked against its CID. */
export async function readPinsIndex (path: string, backup: string): Promise<BackedUpPin[]> {
  const car = await readCar(path, backup)
  for await (const { cid, bytes, index } of car.blocks()) {
    const where = { backup, file: path, block: index, cid: cid.toString() }
    if (!cid.equals(car.roots[0]) || !bytesMatchCid(cid, bytes)) throw new BackupCorruptError(`backup ${backup}: ${path} does not start with its checked pins index`, where)
    return decodePins(bytes, where, `backup ${backup}: ${path}`)
  }
  throw new BackupTruncatedError(`backup ${backup}: ${path} holds no blocks`, { backup, file: path })
}

/** Verifies a chain of backups (full first) in order; returns per-backup counts. */
export async function verifyChain (chain: BackupInfo[], options: VerifyBackupOptions = {}): Promise<VerifyBackupResult> {
  const started = performance.now()
  const ctx: ChainVerifyState = { known: new Set(), done: 0, bytes: 0, total: chain.reduce((n, b) => n + b.manifest.blocks, 0), onProgress: options.onProgress, signal: options.signal }
  const out: VerifyBackupResult['backups'] = []
  let prev: BackupInfo | undefined
  for (const b of chain) {
    const base = prev?.manifest.head?.cid ?? null
    let blocks = 0
    let bytes = 0
    const kinds = b.manifest.files.map(f => f.kind)
    if (new Set(kinds).size !== kinds.length) throw new BackupManifestError(`backup ${b.id}: the manifest lists a file kind twice`, { backup: b.id })
    if ((b.manifest.from != null) !== kinds.includes('chain')) throw new BackupManifestError(`backup ${b.id}: the manifest's height range and its files disagree`, { backup: b.id })
    // state before pins: a state root pinned for a user is then known
    for (const kind of ['chain', 'state', 'pins'] as const) {
      const f = b.manifest.files.find(x => x.kind === kind)
      if (f == null) continue
      const r = await verifyFile(b, f, ctx, base)
      blocks += r.blocks
      bytes += r.bytes
    }
    if (blocks !== b.manifest.blocks || b.manifest.files.reduce((n, f) => n + f.bytes, 0) !== b.manifest.bytes) {
      throw new BackupManifestError(`backup ${b.id}: the manifest counts ${b.manifest.blocks} blocks / ${b.manifest.bytes} bytes, its files ${blocks} blocks`, { backup: b.id })
    }
    out.push({ id: b.id, manifestCid: b.manifestCid, blocks, bytes })
    prev = b
  }
  ctx.onProgress?.({ phase: 'verify', done: ctx.done, total: ctx.total, bytes: ctx.bytes })
  return { backups: out, blocks: ctx.done, bytes: ctx.bytes, ms: performance.now() - started }
}

/**
 * Verifies the backup `id` (directory name or manifest CID) and every
 * backup its manifest chain goes back through, or without `id` every
 * backup in `dir`. Throws the first problem as a typed BackupError naming
 * the backup, file, block and what is wrong.
 */
export async function verifyBackup (dir: string, id?: string, options: VerifyBackupOptions = {}): Promise<VerifyBackupResult> {
  const all = await scanBackups(dir)
  if (id == null) {
    // a manifest that does not read is itself a finding
    await scanBackups(dir, { strict: true })
    const linked = new Set(all.map(b => b.manifest.previous?.toString()).filter(Boolean))
    const tips = all.filter(b => !linked.has(b.manifestCid.toString()))
    const result: VerifyBackupResult = { backups: [], blocks: 0, bytes: 0, ms: 0 }
    for (const tip of tips) {
      const r = await verifyChain(chainOf(all, tip), options)
      for (const x of r.backups) if (!result.backups.some(y => y.id === x.id)) result.backups.push(x)
      result.blocks += r.blocks
      result.bytes += r.bytes
      result.ms += r.ms
    }
    return result
  }
  return await verifyChain(chainOf(all, await resolveBackup(dir, all, id)), options)
}

/** A backup by directory name (its manifest read, so a broken one throws its own error) or by manifest CID. */
export async function resolveBackup (dir: string, list: BackupInfo[], id: string): Promise<BackupInfo> {
  if (/^[A-Za-z0-9._~-]+$/.test(id) && await stat(join(dir, id, MANIFEST_FILE)).then(() => true, () => false)) return await readManifest(dir, id)
  return findBackup(list, id, dir)
}
