import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { DAG_CBOR, cidOf } from '../codec/cid.ts'
import { CorruptDataError } from '../codec/errors.ts'
import { headerLinks } from '../codec/from-bytes.ts'
import { walkDag } from '../codec/walk.ts'
import { readStoreId } from '../migrations/index.ts'
import { decodePinValue, type PinReason } from '../pinning/records.ts'
import { MissingStateNodeError } from '../state/errors.ts'
import { heightOfRootKey, stateRootKey } from '../state/keys.ts'
import { PREFIX, blockKey, prefixRange } from '../storage/keys.ts'
import { HeightIndex } from '../indexes/heights.ts'
import { startCar, type CarOut } from './car.ts'
import { bytesMatchCid } from '../codec/cid.ts'
import {
  CHAIN_CAR, CHAIN_PAGE_TYPE, CHAIN_ROOT_TYPE, INDEX_PAGE_ENTRIES, MANIFEST_TYPE, MANIFEST_VERSION, PINS_CAR, PINS_ROOT_TYPE,
  CAR_QUEUED_CHUNKS, MANIFEST_FILE, PROGRESS_EVERY, SCOPE_DAG, SCOPE_HEADER, SCOPE_NONE, STATE_CAR, STATE_PAGE_TYPE, STATE_ROOT_TYPE
} from './constants.ts'
import { BackupBaseMismatchError, BackupNotFoundError } from './errors.ts'
import { chainOf, encodeManifest, keyOf, locationOf, scanBackups } from './manifest.ts'
import { openDestination } from './destinations/index.ts'
import { FanoutSink } from './sink.ts'
import { createdDetail } from './audit.ts'
import { mhKey, openView, type StoreView } from './read-store.ts'
import { META_FINALIZED, META_HEAD } from '../storage/keys.ts'
import { decodeFinalized, decodeHead } from '../chain/meta.ts'
import { readPinsIndex } from './verify.ts'
import type { BackedUpPin, BackupDestination, BackupFile, BackupInfo, BackupManifest, BackupProgress, BackupResult, BackupTarget, CreateBackupOptions, DestinationBackupResult, MaintainedStore } from './types.ts'

/** Pin reasons a backup carries as pin records: chain pins come back from the chain index, state pins from the state roots, attestation payloads stay out (their keys never leave the node). */
const BACKED_UP_REASONS: readonly PinReason[] = ['blob', 'user', 'remote']

/** One destination of a create: what it holds, and the backup the new one builds on. */
interface Member { index: number, dest: BackupDestination, list: BackupInfo[], prev?: BackupInfo }

/**
 * Writes a backup of `store` to a destination (a local directory path, a
 * spec such as `{ url: 's3://bucket/prefix' }`, or an opened destination):
 * a full one (the canonical chain with every block the store holds for it,
 * every pinned blob and user DAG, the state trie of every recorded root)
 * or, with `incremental`, only what came since the newest backup there,
 * whose manifest it links. Reads one LevelDB snapshot, so writes and GC may
 * go on meanwhile. Each block is hashed against its CID on the way out: a
 * store with a corrupt block refuses (run verify --repair). The CARs are
 * streamed to the destination as they are written (multipart for a
 * bucket), the manifest last: until it is there, nothing is listed.
 */
export async function createBackup (store: MaintainedStore, to: BackupTarget, options: CreateBackupOptions = {}): Promise<BackupResult> {
  const [r] = await createBackups(store, [to], options)
  if (r.error != null) throw r.error
  return r.result!
}

/**
 * Writes a backup to each destination. Destinations whose newest backup is
 * the same (the usual case: the same chain of backups everywhere, or none)
 * get the same backup from one pass over the store, its CARs streamed to
 * all of them at once; a destination that fails mid-way (down, refusing
 * the credentials) drops out and the others go on. Each result holds the
 * backup written or the typed error; nothing throws for one destination.
 */
export async function createBackups (store: MaintainedStore, to: BackupTarget[], options: CreateBackupOptions = {}): Promise<DestinationBackupResult[]> {
  const results: DestinationBackupResult[] = to.map(t => ({ destination: typeof t === 'string' ? t : 'url' in t ? t.url : t.name }))
  const members: Member[] = []
  const opened: BackupDestination[] = []
  try {
    for (const [index, target] of to.entries()) {
      try {
        const dest = await openDestination(target)
        if (dest !== target) opened.push(dest)
        results[index].destination = dest.name
        await dest.prepare?.()
        const list = await scanBackups(dest, { signal: options.signal })
        const prev = options.incremental === true || options.incremental === 'auto' ? list[list.length - 1] : undefined
        if (options.incremental === true && prev == null) throw new BackupNotFoundError(`incremental backup: no backup in ${dest.name} to build on; take a full backup first`, { destination: dest.name })
        if (prev != null) chainOf(list, prev)
        members.push({ index, dest, list, prev })
      } catch (err) {
        results[index].error = err as Error
      }
    }
    // one pass over the store per base: destinations holding the same newest backup get the same new one
    const groups = new Map<string, Member[]>()
    for (const m of members) {
      const key = m.prev?.manifestCid.toString() ?? 'full'
      groups.set(key, [...(groups.get(key) ?? []), m])
    }
    for (const group of groups.values()) {
      for (const [m, r] of await writeGroup(store, group, options)) results[m.index] = { destination: m.dest.name, ...r }
    }
    return results
  } finally {
    for (const d of opened) await d.close().catch(() => {})
  }
}

/** The CARs and the manifest of one backup, streamed to every live destination of a group; a destination that fails drops out. */
class GroupOut {
  readonly id: string
  live: BackupDestination[]
  readonly failed = new Map<BackupDestination, Error>()
  readonly files: string[] = []
  readonly #signal?: AbortSignal

  constructor (dests: BackupDestination[], id: string, signal?: AbortSignal) {
    this.live = dests
    this.id = id
    this.#signal = signal
  }

  #settle (sink: FanoutSink): void {
    for (const [d, err] of sink.failures()) if (!this.failed.has(d)) this.failed.set(d, err)
    this.live = this.live.filter(d => !this.failed.has(d))
  }

  /** A CAR going to every live destination as `<id>/<name>`. */
  car (name: string): CarOut {
    this.files.push(name)
    const sink = new FanoutSink(this.live, keyOf(this.id, name), { max: CAR_QUEUED_CHUNKS, signal: this.#signal })
    const car = startCar(sink)
    const { finish, abort } = car
    car.finish = async root => { try { return await finish(root) } finally { this.#settle(sink) } }
    car.abort = async err => { try { await abort(err) } finally { this.#settle(sink) } }
    return car
  }

  /** The manifest, last: written only where every CAR went. */
  async manifest (bytes: Uint8Array): Promise<void> {
    const sink = new FanoutSink(this.live, keyOf(this.id, MANIFEST_FILE), { max: CAR_QUEUED_CHUNKS, signal: this.#signal })
    try {
      await sink.push(bytes)
      await sink.end()
    } finally {
      this.#settle(sink)
    }
  }

  /** Removes what was written of this backup at a destination that failed (best effort: it may be down; what stays has no manifest and is never listed). */
  async cleanup (dest: BackupDestination): Promise<void> {
    await dest.delete([MANIFEST_FILE, ...this.files].map(f => keyOf(this.id, f))).catch(() => {})
  }
}

async function writeGroup (store: MaintainedStore, group: Member[], options: CreateBackupOptions): Promise<Array<[Member, { result?: BackupResult, error?: Error }]>> {
  const started = performance.now()
  const { db, blocks } = store.maintenance()
  const prev = group[0].prev
  const view = openView(db, blocks)
  const created = Date.now()
  const kind = prev == null ? 'full' : 'incremental'
  let id = `${new Date(created).toISOString().replace(/[-:.]/g, '')}-${kind}`
  for (let n = 2; group.some(m => m.list.some(b => b.id === id)); n++) id = `${id.replace(/~\d+$/, '')}~${n}`
  const out = new GroupOut(group.map(m => m.dest), id, options.signal)
  try {
    const head = decodeHead(view.get(META_HEAD))
    const storeId = readStoreId(db)
    if (prev != null) {
      const base = prev.manifest.head
      if (prev.manifest.storeId != null && storeId != null && prev.manifest.storeId !== storeId) {
        throw new BackupBaseMismatchError(`incremental backup: the newest backup ${prev.id} is of store ${prev.manifest.storeId}, this store is ${storeId}`, { backup: prev.id })
      }
      if (base != null) {
        if (!new HeightIndex(view).isCanonical(base.cid, base.height)) {
          throw new BackupBaseMismatchError(`incremental backup: the head of backup ${prev.id} (height ${base.height}, ${base.cid.toString()}) is no longer on the canonical chain (a reorg); take a full backup`, { backup: prev.id, cid: base.cid.toString() })
        }
      }
    }
    const from = prev == null ? 0 : (prev.manifest.to ?? -1) + 1
    const to = head?.height ?? -1
    const files: BackupFile[] = []
    const progress = options.onProgress
    const car = (name: string): CarOut => out.car(name)
    const chain = from <= to ? await writeChain(view, car, from, to, progress, options.signal) : null
    if (chain != null) files.push(chain.file)
    const stateFrom = prev == null ? 0 : (prev.manifest.stateHeight ?? -1) + 1
    const state = await writeState(view, car, stateFrom, prev?.manifest.stateRoot ?? null, progress, options.signal)
    if (state != null) files.push(state.file)
    const known = prev == null ? new Set<string>() : await pinnedRootsOf(group, chainOf(group[0].list, prev))
    const pins = await writePins(view, car, known, progress, options.signal)
    if (pins != null) files.push(pins)
    const manifest: BackupManifest = {
      type: MANIFEST_TYPE,
      version: MANIFEST_VERSION,
      kind,
      created,
      storeId,
      previous: prev?.manifestCid ?? null,
      from: chain != null ? from : null,
      to: chain != null ? to : null,
      head,
      finalized: decodeFinalized(view.get(META_FINALIZED)),
      stateRoot: state?.head?.root ?? prev?.manifest.stateRoot ?? null,
      stateHeight: state?.head?.height ?? prev?.manifest.stateHeight ?? null,
      stateRoots: state?.roots ?? 0,
      blocks: files.reduce((n, f) => n + f.blocks, 0),
      bytes: files.reduce((n, f) => n + f.bytes, 0),
      files
    }
    const { bytes, cid: manifestCid } = encodeManifest(manifest)
    await out.manifest(bytes)
    const ms = performance.now() - started
    const results: Array<[Member, { result?: BackupResult, error?: Error }]> = []
    for (const m of group) {
      const error = out.failed.get(m.dest)
      if (error != null) {
        await out.cleanup(m.dest)
        results.push([m, { error }])
        continue
      }
      const result: BackupResult = { id, dir: locationOf(m.dest, id), destination: m.dest.name, manifestCid, manifest, ms }
      store.audit?.append('backup.created', createdDetail(result))
      results.push([m, { result }])
    }
    return results
  } catch (err) {
    for (const m of group) await out.cleanup(m.dest)
    return group.map(m => [m, { error: out.failed.get(m.dest) ?? err as Error }])
  } finally {
    await view.close()
  }
}

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
async function writeChain (view: StoreView, open: (name: string) => CarOut, from: number, to: number, progress?: BackupProgress, signal?: AbortSignal): Promise<{ file: BackupFile }> {
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
async function writeState (view: StoreView, open: (name: string) => CarOut, from: number, prevRoot: CID | null, progress?: BackupProgress, signal?: AbortSignal): Promise<{ file: BackupFile, roots: number, head: { height: number, root: CID } } | null> {
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

/** Pin roots the earlier backups of a chain carry (read from their pins.car index blocks, at the first destination of the group that answers). */
async function pinnedRootsOf (group: Member[], chain: BackupInfo[]): Promise<Set<string>> {
  let lastErr: unknown
  for (const { dest } of group) {
    try {
      const out = new Set<string>()
      for (const b of chain) {
        const f = b.manifest.files.find(x => x.kind === 'pins')
        if (f == null) continue
        for (const p of await readPinsIndex(dest, b.id, f.name)) out.add(mhKey(p.cid))
      }
      return out
    } catch (err) {
      lastErr = err
    }
  }
  throw lastErr
}

/**
 * pins.car: the root lists every blob and user pin held now (pinned state);
 * then the DAG of each pin the previous backups do not carry yet, parents
 * first, whole-DAG pins before root-only ones.
 */
async function writePins (view: StoreView, open: (name: string) => CarOut, carried: Set<string>, progress?: BackupProgress, signal?: AbortSignal): Promise<BackupFile | null> {
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

