import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { DAG_CBOR, bytesMatchCid, cidOf } from '../codec/cid.ts'
import { CorruptDataError } from '../codec/errors.ts'
import { headerLinks } from '../codec/from-bytes.ts'
import { walkDag } from '../codec/walk.ts'
import { decodePinValue, type PinReason } from '../pinning/records.ts'
import { MissingStateNodeError } from '../state/errors.ts'
import { heightOfRootKey, stateRootKey } from '../state/keys.ts'
import { PREFIX, blockKey, prefixRange } from '../storage/keys.ts'
import { HeightIndex } from '../indexes/heights.ts'
import type { CarOut } from './car.ts'
import {
  CHAIN_CAR, CHAIN_PAGE_TYPE, CHAIN_ROOT_TYPE, INDEX_PAGE_ENTRIES, PINS_CAR, PINS_ROOT_TYPE,
  PROGRESS_EVERY, SCOPE_DAG, SCOPE_HEADER, SCOPE_NONE, STATE_CAR, STATE_PAGE_TYPE, STATE_ROOT_TYPE
} from './constants.ts'
import { mhKey, type StoreView } from './read-store.ts'
import type { BackedUpPin, BackupFile, BackupProgress } from './types.ts'

// What a backup writes from the store: the chain, state and pins CARs, each walked from a
// read view of the store (src/backup/create.ts groups them into a backup per destination
// and writes the manifest).

/** Pin reasons a backup carries as pin records: chain pins come back from the chain index, state pins from the state roots, attestation payloads stay out (their keys never leave the node). */
const BACKED_UP_REASONS: readonly PinReason[] = ['blob', 'user', 'remote']

/** Writes a block after checking it against its CID. */
async function putChecked (car: CarOut, cid: CID, bytes: Uint8Array): Promise<void> {
  if (!bytesMatchCid(cid, bytes)) throw new CorruptDataError(`backup: stored block ${cid.toString()} does not hash to its CID; run verify --repair first`)
  await car.put(cid, bytes)
}

async function putIndex (car: CarOut, value: unknown): Promise<CID> {
  const bytes = dagCbor.encode(value)
  const cid = cidOf(bytes, DAG_CBOR)
  await car.put(cid, bytes)
  return cid
}

function indexCid (value: unknown): CID {
  return cidOf(dagCbor.encode(value), DAG_CBOR)
}

type ChainEntry = [number, CID, number]

/** How much of a canonical block the store holds: nothing, the header, or the header and every page. */
function scopeOf (view: StoreView, cid: CID): { scope: number, header?: Uint8Array, pages: CID[] } {
  const header = view.block(blockKey(cid))
  if (header == null) return { scope: SCOPE_NONE, pages: [] }
  const { pages } = headerLinks(header)
  return { scope: pages.every(p => view.block(blockKey(p)) != null) ? SCOPE_DAG : SCOPE_HEADER, header, pages }
}

/**
 * Canonical heights from..to in pages of INDEX_PAGE_ENTRIES, from the height
 * index of the view. With `scopes` (one array per page, from a first pass)
 * the scopes are taken from there instead of reading the blocks again.
 */
async function * chainPages (view: StoreView, from: number, to: number, signal?: AbortSignal, scopes?: Uint8Array[]): AsyncGenerator<ChainEntry[]> {
  let page: ChainEntry[] = []
  let n = 0
  for await (const [height, cid] of new HeightIndex(view).entries(from, to, { signal })) {
    const known = scopes?.[n]?.[page.length]
    page.push([height, cid, known ?? scopeOf(view, cid).scope])
    if (page.length === INDEX_PAGE_ENTRIES) { yield page; page = []; n++ }
  }
  if (page.length > 0) yield page
}


/**
 * chain.car: the root (height range, page CIDs), then for each page of
 * INDEX_PAGE_ENTRIES heights the page ([height, header CID, scope] each),
 * then each of its blocks: the header, then its pages. Parents always come
 * before what they link to. A first pass over the height index computes the
 * pages (only their CIDs are kept), so the root can lead the file.
 */
export async function writeChain (view: StoreView, open: (name: string) => CarOut, from: number, to: number, progress?: BackupProgress, signal?: AbortSignal): Promise<{ file: BackupFile }> {
  const pageCids: CID[] = []
  const scopes: Uint8Array[] = []
  let heights = 0
  for await (const page of chainPages(view, from, to, signal)) {
    pageCids.push(indexCid({ type: CHAIN_PAGE_TYPE, entries: page }))
    scopes.push(Uint8Array.from(page.map(e => e[2])))
    heights += page.length
    progress?.({ phase: 'chain index', done: heights, total: to - from + 1 })
  }
  const car = open(CHAIN_CAR)
  try {
    const root = await putIndex(car, { type: CHAIN_ROOT_TYPE, from, to, heights, pages: pageCids })
    let done = 0
    let i = 0
    for await (const page of chainPages(view, from, to, signal, scopes)) {
      const cid = await putIndex(car, { type: CHAIN_PAGE_TYPE, entries: page })
      // the store moved between the passes only if the snapshot did not hold: never, but say so if it does
      if (!cid.equals(pageCids[i++])) throw new CorruptDataError('backup: the height index changed under the snapshot')
      for (const [, header, scope] of page) {
        if (scope !== SCOPE_NONE) {
          const bytes = view.block(blockKey(header))!
          await putChecked(car, header, bytes)
          if (scope === SCOPE_DAG) for (const p of headerLinks(bytes).pages) await putChecked(car, p, view.block(blockKey(p))!)
        }
        if (++done % PROGRESS_EVERY === 0) progress?.({ phase: 'chain', done, total: heights, bytes: car.bytes })
      }
    }
    progress?.({ phase: 'chain', done, total: heights, bytes: car.bytes })
    const { sha256, bytes } = await car.finish(root)
    return { file: { name: CHAIN_CAR, kind: 'chain', root, sha256, bytes, blocks: car.blocks } }
  } catch (err) {
    await car.abort(err)
    throw err
  }
}

type StateEntry = [number, CID]

async function * statePages (view: StoreView, from: number, signal?: AbortSignal): AsyncGenerator<StateEntry[]> {
  let page: StateEntry[] = []
  for await (const [key, value] of view.iterator({ gte: stateRootKey(from), lt: Uint8Array.of(PREFIX.STATE_ROOT + 1) })) {
    signal?.throwIfAborted()
    page.push([heightOfRootKey(key), CID.decode(value)])
    if (page.length === INDEX_PAGE_ENTRIES) { yield page; page = [] }
  }
  if (page.length > 0) yield page
}

/** Every stored trie node under `root`, parents first, skipping subtrees in `known` (each node in it has its whole subtree there). */
function trieNodes (view: StoreView, root: CID, known: Set<string>, signal?: AbortSignal): AsyncGenerator<{ cid: CID, bytes?: Uint8Array }> {
  const load = (cid: CID): Uint8Array => {
    const bytes = view.block(blockKey(cid))
    if (bytes == null) throw new MissingStateNodeError(`backup: state trie node ${cid.toString()} under root ${root.toString()} is not in the store; run verify`)
    return bytes
  }
  return walkDag(root, load, { key: mhKey, expanded: known, signal })
}

/**
 * state.car: the root (height range, head root, page CIDs), then each page
 * of [height, state root] pairs followed by the trie nodes of its roots
 * that no earlier root (in this backup or under the previous backup's
 * state root) already brought.
 */
export async function writeState (view: StoreView, open: (name: string) => CarOut, from: number, prevRoot: CID | null, progress?: BackupProgress, signal?: AbortSignal): Promise<{ file: BackupFile, roots: number, head: { height: number, root: CID } } | null> {
  const pageCids: CID[] = []
  let roots = 0
  let head: { height: number, root: CID } | undefined
  for await (const page of statePages(view, from, signal)) {
    pageCids.push(indexCid({ type: STATE_PAGE_TYPE, roots: page }))
    roots += page.length
    const last = page[page.length - 1]
    head = { height: last[0], root: last[1] }
  }
  if (head == null) return null
  const known = new Set<string>()
  // what the previous backups hold: the trie under their last root (walked from this store, when it still has it)
  if (prevRoot != null) {
    try { for await (const _ of trieNodes(view, prevRoot, known, signal)) {} } catch (err) {
      if (!(err instanceof MissingStateNodeError)) throw err
      known.clear()
    }
  }
  const car = open(STATE_CAR)
  try {
    const root = await putIndex(car, { type: STATE_ROOT_TYPE, from, to: head.height, count: roots, head: [head.height, head.root], pages: pageCids })
    let nodes = 0
    for await (const page of statePages(view, from, signal)) {
      await putIndex(car, { type: STATE_PAGE_TYPE, roots: page })
      for (const [, stateRoot] of page) {
        for await (const n of trieNodes(view, stateRoot, known, signal)) {
          await putChecked(car, n.cid, n.bytes!)
          if (++nodes % PROGRESS_EVERY === 0) progress?.({ phase: 'state', done: nodes, bytes: car.bytes })
        }
      }
    }
    progress?.({ phase: 'state', done: nodes, bytes: car.bytes })
    const { sha256, bytes } = await car.finish(root)
    return { file: { name: STATE_CAR, kind: 'state', root, sha256, bytes, blocks: car.blocks }, roots, head }
  } catch (err) {
    await car.abort(err)
    throw err
  }
}


/**
 * pins.car: the root lists every blob and user pin held now (pinned state);
 * then the DAG of each pin the previous backups do not carry yet, parents
 * first, whole-DAG pins before root-only ones.
 */
export async function writePins (view: StoreView, open: (name: string) => CarOut, carried: Set<string>, progress?: BackupProgress, signal?: AbortSignal): Promise<BackupFile | null> {
  const pins: BackedUpPin[] = []
  for await (const [key, value] of view.iterator(prefixRange(Uint8Array.of(PREFIX.PIN)))) {
    signal?.throwIfAborted()
    const record = decodePinValue(CID.decode(key.subarray(1)), value)
    if (record.state !== 'pinned') continue
    const reasons = record.reasons.filter(r => BACKED_UP_REASONS.includes(r))
    if (reasons.length === 0) continue
    const deep = (record.deep ?? (record.recursive ? record.reasons : [])).filter(r => reasons.includes(r))
    pins.push({ cid: record.cid, reasons, deep, ...(record.height != null ? { height: record.height } : {}) })
  }
  if (pins.length === 0) return null
  // whole-DAG pins first: a root-only pin's block inside one of them is then written (and walked) there
  const ordered = [...pins.filter(p => p.deep.length > 0), ...pins.filter(p => p.deep.length === 0)]
  const car = open(PINS_CAR)
  try {
    const root = await putIndex(car, { type: PINS_ROOT_TYPE, pins: ordered })
    const written = new Set<string>()
    const expanded = new Set<string>()
    let n = 0
    for (const pin of ordered) {
      if (carried.has(mhKey(pin.cid))) continue
      const recursive = pin.deep.length > 0
      if (!recursive && written.has(mhKey(pin.cid))) continue
      const load = (cid: CID): Uint8Array => {
        const bytes = view.block(blockKey(cid))
        if (bytes == null) throw new CorruptDataError(`backup: block ${cid.toString()} of pinned DAG ${pin.cid.toString()} is not in the store; run verify --repair`)
        return bytes
      }
      for await (const { cid, bytes } of walkDag(pin.cid, load, { key: mhKey, expanded, maxDepth: recursive ? Infinity : 0, signal })) {
        const key = mhKey(cid)
        if (written.has(key)) continue
        await putChecked(car, cid, bytes!)
        written.add(key)
        if (++n % PROGRESS_EVERY === 0) progress?.({ phase: 'pins', done: n, bytes: car.bytes })
      }
    }
    progress?.({ phase: 'pins', done: n, bytes: car.bytes })
    const { sha256, bytes } = await car.finish(root)
    return { name: PINS_CAR, kind: 'pins', root, sha256, bytes, blocks: car.blocks }
  } catch (err) {
    await car.abort(err)
    throw err
  }
}
