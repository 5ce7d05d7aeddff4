import { readStoreId } from '../migrations/index.ts'
import { startCar, type CarOut } from './car.ts'
import { CAR_QUEUED_CHUNKS, MANIFEST_FILE, MANIFEST_TYPE, MANIFEST_VERSION } from './constants.ts'
import { BackupBaseMismatchError, BackupNotFoundError } from './errors.ts'
import { chainOf, encodeManifest, keyOf, locationOf, scanBackups } from './manifest.ts'
import { openDestination } from './destinations/index.ts'
import { FanoutSink } from './sink.ts'
import { createdDetail } from './audit.ts'
import { mhKey, openView } from './read-store.ts'
import { META_FINALIZED, META_HEAD } from '../storage/keys.ts'
import { decodeFinalized, decodeHead } from '../chain/meta.ts'
import { readPinsIndex } from './verify.ts'
import { HeightIndex } from '../indexes/heights.ts'
import { writeChain, writePins, writeState } from './walk-store.ts'
import type { BackupDestination, BackupFile, BackupInfo, BackupManifest, BackupResult, BackupTarget, CreateBackupOptions, DestinationBackupResult, MaintainedStore } from './types.ts'


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
