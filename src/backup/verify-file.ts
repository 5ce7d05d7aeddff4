import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { equals } from 'uint8arrays/equals'
import { bytesMatchCid } from '../codec/cid.ts'
import { decodeHeader } from '../codec/decode.ts'
import { linksOf } from '../codec/links.ts'
import type { PinReason } from '../pinning/records.ts'
import { readCar } from './car.ts'
import { CHAIN_PAGE_TYPE, CHAIN_ROOT_TYPE, PINS_ROOT_TYPE, PROGRESS_EVERY, SCOPE_DAG, SCOPE_HEADER, STATE_PAGE_TYPE, STATE_ROOT_TYPE } from './constants.ts'
import { BackupCorruptError, BackupIncompleteError, BackupManifestError, BackupOrderError, BackupTruncatedError, DestinationObjectNotFoundError, type BackupErrorDetail } from './errors.ts'
import { keyOf } from './manifest.ts'
import { mhKey } from './read-store.ts'
import type { BackedUpPin, BackupDestination, BackupFile, BackupInfo, BackupProgress } from './types.ts'

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

/** Where a block is and how messages name it. */
interface At { cid: CID, block: Uint8Array, name: string, where: BackupErrorDetail }

function decodeIndex (bytes: Uint8Array, type: string, where: BackupErrorDetail, what: string): any {
  let v: any
  try { v = dagCbor.decode(bytes) } catch (err) { throw new BackupCorruptError(`${what} does not decode`, where, { cause: err }) }
  if (v == null || v.type !== type) throw new BackupCorruptError(`${what} is not a ${type} block`, where)
  return v
}

function cidFromKey (key: string): CID {
  const mh = Uint8Array.from(Buffer.from(key, 'latin1'))
  // the codec is not in the key; raw names the block well enough for a message
  return CID.createV1(0x55, { code: mh[0], size: mh[1], digest: mh.subarray(2), bytes: mh } as any)
}

/** The pin list of a pins index block. */
export function decodePins (bytes: Uint8Array, where: BackupErrorDetail, what: string): BackedUpPin[] {
  const v = decodeIndex(bytes, PINS_ROOT_TYPE, where, `${what}: the pins index`)
  if (!Array.isArray(v.pins)) throw new BackupCorruptError(`${what}: the pins index has no pin list`, where)
  return v.pins.map((p: any) => {
    const cid = CID.asCID(p?.cid)
    if (cid == null || !Array.isArray(p.reasons) || !Array.isArray(p.deep)) throw new BackupCorruptError(`${what}: a pin entry has the wrong shape`, where)
    return { cid, reasons: p.reasons as PinReason[], deep: p.deep as PinReason[], ...(typeof p.height === 'number' ? { height: p.height } : {}) }
  })
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
export async function verifyFile (dest: BackupDestination, b: BackupInfo, f: BackupFile, ctx: ChainVerifyState, base: CID | null): Promise<{ blocks: number, bytes: number }> {
  const at = (extra: BackupErrorDetail = {}): BackupErrorDetail => ({ backup: b.id, file: f.name, destination: dest.name, ...extra })
  const missing = (err: unknown): BackupIncompleteError => new BackupIncompleteError(`backup ${b.id}: ${f.name}, listed in the manifest, is missing`, at(), { cause: err })
  let car
  try {
    car = await readCar(dest.read(keyOf(b.id, f.name), { signal: ctx.signal }), b.id, f.name)
  } catch (err) {
    if (err instanceof DestinationObjectNotFoundError) throw missing(err)
    throw withDestination(err, dest)
  }
  if (car.roots.length !== 1 || !car.roots[0].equals(f.root)) throw new BackupManifestError(`backup ${b.id}: ${f.name} names root(s) ${car.roots.map(String).join(', ')}, the manifest ${f.root.toString()}`, at())
  const check = new CarCheck(b, f, ctx, base)
  try {
    for await (const { cid, bytes: block, index } of car.blocks()) {
      ctx.signal?.throwIfAborted()
      check.block({ cid, block, name: `backup ${b.id}: ${f.name} block ${index} (${cid.toString()})`, where: at({ block: index, cid: cid.toString() }) })
    }
  } catch (err) {
    throw withDestination(err, dest)
  }
  check.finish(at)
  const sha = car.sha256()
  const size = car.bytes()
  if (!equals(sha, f.sha256) || size !== f.bytes) {
    throw new BackupCorruptError(`backup ${b.id}: ${f.name}: every block checks out but the file's sha256 (or size, ${size} vs ${f.bytes}) differs from the manifest's: the file was altered`, at())
  }
  return { blocks: check.count, bytes: check.bytes }
}

/** A backup error raised while reading from `dest` names it (the CAR reader's errors do not know where the bytes came from). */
export function withDestination (err: unknown, dest: BackupDestination): unknown {
  const e = err as { detail?: BackupErrorDetail }
  if (e != null && typeof e === 'object' && e.detail != null && typeof e.detail === 'object' && e.detail.destination == null) e.detail.destination = dest.name
  return err
}

/** The state of one CAR's check: what is expected next and under which parent, and the chain's continuity. */
class CarCheck {
  count = 0
  bytes = 0
  readonly #b: BackupInfo
  readonly #f: BackupFile
  readonly #ctx: ChainVerifyState
  readonly #base: CID | null
  readonly #expected = new Map<string, Expect>()
  readonly #seen = new Set<string>()
  /** The written order is a depth-first walk from the root: each parent's children arrive in the order it links them. */
  readonly #queues = new Map<string, { keys: string[], next: number }>()
  readonly #parentOf = new Map<string, string>()
  /** Chain continuity: the header CID at each height of the current page, and the last of the page before. */
  #cidAt = new Map<number, CID>()
  #lastHeight = -1
  #heights = 0

  constructor (b: BackupInfo, f: BackupFile, ctx: ChainVerifyState, base: CID | null) {
    this.#b = b
    this.#f = f
    this.#ctx = ctx
    this.#base = base
    const rootKind = f.kind === 'chain' ? 'chain-root' : f.kind === 'state' ? 'state-root' : 'pins-root'
    this.#expected.set(mhKey(f.root), { kind: rootKind, by: null })
  }

  #expect (cid: CID, e: Expect): void {
    const key = mhKey(cid)
    if (e.kind === 'pin-block' || e.kind === 'node') {
      if (this.#ctx.known.has(key)) return
      const old = this.#expected.get(key)
      // the latest block to link it is the one it is written under (the writer's walk is a stack)
      if (old?.kind === 'pin-block' && e.kind === 'pin-block' && old.recursive && !e.recursive) e = { ...e, recursive: true }
    } else if (this.#seen.has(key)) return
    this.#expected.set(key, e)
    if (e.by != null) {
      const pk = mhKey(e.by)
      this.#parentOf.set(key, pk)
      let q = this.#queues.get(pk)
      if (q == null) { q = { keys: [], next: 0 }; this.#queues.set(pk, q) }
      q.keys.push(key)
    }
  }

  /** Checks one block as it comes: its bytes, its place in the written order, then what its kind says. */
  block (a: At): void {
    const { cid, block, name, where } = a
    if (!bytesMatchCid(cid, block)) throw new BackupCorruptError(`${name} does not hash to its CID (corrupted bytes)`, where)
    const key = mhKey(cid)
    const e = this.#expected.get(key)
    if (e == null) {
      // a copy of a block an earlier backup already carries (its subtree is there too)
      if (this.#ctx.known.has(key) && (this.#f.kind === 'state' || this.#f.kind === 'pins')) { this.#counted(block, false); return }
      if (this.#seen.has(key)) throw new BackupOrderError(`${name} appears twice`, where)
      throw new BackupOrderError(`${name} appears before any block that links to it (blocks out of their written order)`, where)
    }
    this.#inOrder(key, e, a)
    this.#parentOf.delete(key)
    this.#expected.delete(key)
    this.#seen.add(key)
    this.#kind(e, a)
    this.#counted(block, true)
  }

  #counted (block: Uint8Array, progress: boolean): void {
    const ctx = this.#ctx
    this.count++
    this.bytes += block.length
    ctx.done++
    ctx.bytes += block.length
    if (progress && ctx.done % PROGRESS_EVERY === 0) ctx.onProgress?.({ phase: 'verify', done: ctx.done, total: ctx.total, bytes: ctx.bytes })
  }

  /** A block must come after its parent and after the siblings its parent links first. */
  #inOrder (key: string, e: Expect, a: At): void {
    const pk = e.by != null ? this.#parentOf.get(key) : undefined
    if (pk == null) return
    const q = this.#queues.get(pk)!
    // skip siblings that arrived already or were linked again by a later parent
    while (q.next < q.keys.length && q.keys[q.next] !== key && this.#parentOf.get(q.keys[q.next]) !== pk) q.next++
    if (q.keys[q.next] !== key) {
      throw new BackupOrderError(`${a.name} comes before ${cidFromKey(q.keys[q.next]).toString()}, which ${e.by!.toString()} links first (blocks out of their written order)`, a.where)
    }
    q.next++
    if (q.next >= q.keys.length) this.#queues.delete(pk)
  }

  #kind (e: Expect, a: At): void {
    const { cid, block, name, where } = a
    switch (e.kind) {
      case 'chain-root': this.#chainRoot(a); break
      case 'chain-page': this.#chainPage(a); break
      case 'header': this.#header(e, a); break
      case 'page': break
      case 'state-root': this.#stateRoot(a); break
      case 'state-page': {
        const v = decodeIndex(block, STATE_PAGE_TYPE, where, `${name}: a state index page`)
        for (const [, root] of v.roots as Array<[number, CID]>) this.#expect(root, { kind: 'node', by: cid })
        break
      }
      case 'node': this.#follow(a, 'node', 'a state trie node', true); break
      case 'pins-root': for (const p of decodePins(block, where, name)) this.#expect(p.cid, { kind: 'pin-block', recursive: p.deep.length > 0, by: cid }); break
      case 'pin-block': this.#follow(a, 'pin-block', 'its codec', e.recursive); break
    }
  }

  /** A state node or pinned block: known from now on; its links are expected (for a recursive pin). */
  #follow (a: At, kind: 'node' | 'pin-block', codec: string, deep: boolean): void {
    this.#ctx.known.add(mhKey(a.cid))
    if (!deep) return
    let links: CID[]
    try { links = linksOf(a.cid, a.block) ?? [] } catch (err) { throw new BackupCorruptError(`${a.name} does not decode ${kind === 'node' ? 'as ' : 'under '}${codec}`, a.where, { cause: err }) }
    for (const l of links) this.#expect(l, kind === 'node' ? { kind, by: a.cid } : { kind, recursive: true, by: a.cid })
  }

  #chainRoot ({ cid, block, name, where }: At): void {
    const m = this.#b.manifest
    const v = decodeIndex(block, CHAIN_ROOT_TYPE, where, `${name}: the chain index`)
    if (v.from !== m.from || v.to !== m.to) throw new BackupManifestError(`backup ${this.#b.id}: ${this.#f.name} holds heights ${String(v.from)}..${String(v.to)}, the manifest says ${String(m.from)}..${String(m.to)}`, where)
    for (const p of v.pages as CID[]) this.#expect(p, { kind: 'chain-page', by: cid })
  }

  #chainPage ({ cid, block, name, where }: At): void {
    const m = this.#b.manifest
    const v = decodeIndex(block, CHAIN_PAGE_TYPE, where, `${name}: a chain index page`)
    const prev = this.#cidAt.get(this.#lastHeight)
    this.#cidAt = new Map(prev != null ? [[this.#lastHeight, prev]] : [])
    for (const entry of v.entries as Array<[number, CID, number]>) {
      const [h, c, scope] = entry
      if (!Number.isSafeInteger(h) || h <= this.#lastHeight || h < m.from! || h > m.to! || CID.asCID(c) == null) {
        throw new BackupOrderError(`${name}: index entry for height ${String(h)} out of order or outside ${String(m.from)}..${String(m.to)}`, where)
      }
      this.#lastHeight = h
      this.#heights++
      this.#cidAt.set(h, c)
      if (scope === SCOPE_HEADER || scope === SCOPE_DAG) this.#expect(c, { kind: 'header', height: h, scope, by: cid })
    }
  }

  #header (e: Extract<Expect, { kind: 'header' }>, { cid, block, name, where }: At): void {
    const m = this.#b.manifest
    let header
    try { header = decodeHeader(block) } catch (err) { throw new BackupCorruptError(`${name} is indexed as the header at height ${e.height} but does not decode as one`, where, { cause: err }) }
    if (header.height !== e.height) throw new BackupCorruptError(`${name}: the index puts it at height ${e.height}, the header says ${header.height}`, where)
    const parentWanted = e.height === m.from ? (e.height === 0 ? null : this.#base) : this.#cidAt.get(e.height - 1)
    if (parentWanted !== undefined && !(parentWanted == null ? header.parent == null : header.parent?.equals(parentWanted) === true)) {
      throw new BackupCorruptError(`${name}: the header at height ${e.height} links parent ${String(header.parent)}, the chain has ${String(parentWanted)} at height ${e.height - 1} (broken chain)`, where)
    }
    if (e.scope === SCOPE_DAG) for (const p of [...header.txPages, ...header.receiptPages]) this.#expect(p, { kind: 'page', height: e.height, by: cid })
  }

  #stateRoot ({ cid, block, name, where }: At): void {
    const m = this.#b.manifest
    const v = decodeIndex(block, STATE_ROOT_TYPE, where, `${name}: the state index`)
    const [h, root] = v.head as [number, CID]
    if (m.stateRoot == null || !m.stateRoot.equals(root) || m.stateHeight !== h || m.stateRoots !== v.count) {
      throw new BackupManifestError(`backup ${this.#b.id}: ${this.#f.name} ends at state root ${String(root)} (height ${String(h)}, ${String(v.count)} roots), the manifest says ${String(m.stateRoot)} (height ${String(m.stateHeight)}, ${m.stateRoots} roots)`, where)
    }
    for (const p of v.pages as CID[]) this.#expect(p, { kind: 'state-page', by: cid })
  }

  /** After the last block: the count, then nothing still expected, then the index's heights. */
  finish (at: (extra?: BackupErrorDetail) => BackupErrorDetail): void {
    const { id } = this.#b
    const f = this.#f
    if (this.count < f.blocks) throw new BackupTruncatedError(`backup ${id}: ${f.name} holds ${this.count} blocks, the manifest counts ${f.blocks} (truncated)`, at({ block: this.count }))
    const missing = this.#expected.entries().next().value
    if (missing != null) {
      const [key, e] = missing
      const cid = cidFromKey(key)
      throw new BackupIncompleteError(`backup ${id}: ${f.name} lacks block ${cid.toString()} (${e.kind}${e.by != null ? ` linked by ${e.by.toString()}` : ''}): the DAG is incomplete`, at({ cid: cid.toString() }))
    }
    if (this.count !== f.blocks) throw new BackupManifestError(`backup ${id}: ${f.name} holds ${this.count} blocks, the manifest counts ${f.blocks}`, at())
    if (f.kind === 'chain' && this.#heights === 0) throw new BackupManifestError(`backup ${id}: ${f.name} indexes no heights`, at())
  }
}
