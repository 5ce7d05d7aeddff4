import { CID } from 'multiformats/cid'
import { headerLinks } from '../codec/from-bytes.ts'
import { readableLinks, walkDag } from '../codec/walk.ts'
import { PREFIX, blockKey, prefixRange } from '../storage/keys.ts'
import type { BlocksDb, RootDb } from '../storage/level.ts'
import { GcUnsafeError } from './errors.ts'
import { decodePinValue } from './records.ts'
import type { GcProgress, GcSummary } from './types.ts'

export { GcUnsafeError }
export type { GcProgress, GcSummary }


type Snapshot = { close?: () => Promise<void> }
interface GcOptions { sync: boolean, keepKeys?: Iterable<string>, onProgress?: GcProgress, signal?: AbortSignal }

/**
 * Mark and sweep over the blocks sublevel, in one LevelDB snapshot:
 * - roots: every pin record (a chain pin holds its block's header and pages;
 *   other recursive pins walk their DAG by codec: dag-cbor and dag-pb links)
 *   and `extraRoots` (replicated-log entries, identities and
 *   manifests, which OrbitDB keeps unpinned);
 * - candidates: only blocks present in the snapshot, so a block written while
 *   the collection runs is never deleted.
 * The caller keeps pin writes out while this runs (ChainStore holds its write
 * lock and waits for file imports).
 */
export async function collectGarbage (db: RootDb, blocks: BlocksDb, extraRoots: Iterable<CID>, options: GcOptions): Promise<GcSummary> {
  const started = performance.now()
  const snapshot = (db as any).snapshot() as Snapshot
  try {
    // with a progress display, counting keys first gives it a total (keys only, a fraction of the sweep)
    let total = 0
    if (options.onProgress != null) for await (const _ of blocks.keys({ snapshot } as any)) total++
    const marker = new Marker(blocks, snapshot, total, options)
    let incompletePins = 0
    for await (const [key, value] of db.iterator({ ...prefixRange(Uint8Array.of(PREFIX.PIN)), snapshot } as any)) {
      options.signal?.throwIfAborted()
      const pin = decodePinValue(CID.decode(key.subarray(1)), value)
      const complete = await (pin.reasons.includes('chain') && pin.recursive ? marker.markBlock(pin.cid) : marker.mark(pin.cid, pin.recursive))
      // a hold still fetching (queued, pinning) or failed keeps what it has; only pinned DAGs must be complete
      if (!complete && pin.state === 'pinned') incompletePins++
    }
    for (const root of extraRoots) await marker.mark(root, true)
    const swept = await sweep(db, blocks, snapshot, marker.marked, total, options)
    return { ...swept, marked: swept.scanned - swept.deleted, incompletePins, ms: performance.now() - started }
  } finally {
    await snapshot.close?.()
  }
}

/** The mark phase: what the pins and extra roots reach, by block key. */
class Marker {
  readonly marked: Set<string>
  /** Blocks whose links were walked: a block marked by a non-recursive pin may still need its DAG walked for another. */
  readonly #expanded = new Set<string>()
  readonly #blocks: BlocksDb
  readonly #snapshot: Snapshot
  readonly #total: number
  readonly #options: GcOptions

  constructor (blocks: BlocksDb, snapshot: Snapshot, total: number, options: GcOptions) {
    this.marked = new Set(options.keepKeys ?? [])
    this.#blocks = blocks
    this.#snapshot = snapshot
    this.#total = total
    this.#options = options
  }

  async #read (key: string): Promise<Uint8Array | undefined> {
    return await this.#blocks.get(key, { snapshot: this.#snapshot } as any) ?? undefined
  }

  /** Marks a root (and with `recursive` its whole DAG); false when a block of it is missing or undecodable. */
  async mark (root: CID, recursive: boolean): Promise<boolean> {
    if (!recursive && this.marked.has(blockKey(root))) return true
    let complete = true
    // a codec whose links cannot be read keeps only itself; one whose bytes do not decode makes the pin incomplete
    const links = (cid: CID, bytes: Uint8Array): CID[] => {
      try { return readableLinks(cid, bytes) } catch { complete = false; return [] }
    }
    const walk = walkDag(root, async cid => await this.#read(blockKey(cid)), { key: blockKey, expanded: this.#expanded, reportMissing: true, maxDepth: recursive ? Infinity : 0, links, signal: this.#options.signal })
    for await (const { cid, bytes } of walk) {
      this.marked.add(blockKey(cid))
      if (this.marked.size % 1000 === 0) this.#options.onProgress?.({ phase: 'mark', done: Math.min(this.marked.size, this.#total), total: this.#total })
      if (bytes == null) complete = false
    }
    return complete
  }

  /**
   * A chain pin holds its block: the header and its pages. Not the parent
   * the header links to: that block has its own pin (or the policy let it go).
   */
  async markBlock (header: CID): Promise<boolean> {
    const key = blockKey(header)
    this.marked.add(key)
    const bytes = await this.#read(key)
    if (bytes == null) return false
    let complete = true
    try {
      for (const page of headerLinks(bytes).pages) if (!(await this.mark(page, false))) complete = false
    } catch {
      return false
    }
    return complete
  }
}

/** The sweep phase: deletes every block of the snapshot that is not marked, in batches of 1,000. */
async function sweep (db: RootDb, blocks: BlocksDb, snapshot: Snapshot, marked: Set<string>, total: number, options: GcOptions): Promise<{ scanned: number, deleted: number, bytesFreed: number }> {
  let scanned = 0
  let deleted = 0
  let bytesFreed = 0
  let batch = db.batch()
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return
    await batch.write({ sync: options.sync })
    batch = db.batch()
  }
  for await (const [key, value] of blocks.iterator({ snapshot } as any)) {
    options.signal?.throwIfAborted()
    scanned++
    if (!marked.has(key)) {
      batch.del(key as any, { sublevel: blocks as any } as any)
      deleted++
      bytesFreed += value.length
      if (batch.length >= 1000) await flush()
    }
    if (scanned % 1000 === 0) options.onProgress?.({ phase: 'sweep', done: scanned, total: Math.max(total, scanned) })
  }
  await flush()
  options.onProgress?.({ phase: 'sweep', done: scanned, total: scanned })
  return { scanned, deleted, bytesFreed }
}
