import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { bytesMatchCid } from '../codec/cid.ts'
import { decodeHeader } from '../codec/decode.ts'
import { CorruptDataError } from '../codec/errors.ts'
import { blockFromBytes } from '../codec/from-bytes.ts'
import type { CodecLimits } from '../codec/types.ts'
import { setHeadInBatch, writeFinalizedInBatch } from '../chain/meta.ts'
import { indexBlock, indexHeaderOnly, indexHeightOnly, recordBlock } from '../indexes/writer.ts'
import { WindowBuilder } from '../indexes/windows.ts'
import { setChainPin } from '../pinning/chain-pin.ts'
import { holdInBatch, pinInBatch, readPin, type PinReason, type PinReader } from '../pinning/records.ts'
import { FLAT_META_KEY, isStateNodeCid, stateRootKey } from '../state/keys.ts'
import { META_HEAD, blockKey } from '../storage/keys.ts'
import { HeightIndex } from '../indexes/heights.ts'
import { startBatch, type BlocksDb, type RootDb, type StoreBatch } from '../storage/level.ts'
import { readCar, type CarBlock } from './car.ts'
import { PROGRESS_EVERY, RESTORE_BATCH_BLOCKS, SCOPE_DAG, SCOPE_HEADER } from './constants.ts'
import { BackupCorruptError, RestoreTargetNotEmptyError } from './errors.ts'
import { mhKey } from './read-store.ts'
import type { BackedUpPin, BackupDestination, BackupFile, BackupInfo, RestoreBackupOptions, RestoreResult } from './types.ts'
import { keyOf } from './manifest.ts'
import { withDestination } from './verify-file.ts'

type Blocks = AsyncGenerator<CarBlock>
/** A chain index entry of a backup: height, header CID, what the backup held of it. */
type ChainEntry = [number, CID, number]

/**
 * One restore into an empty database: blocks are written in batches, the
 * canonical chain is indexed from the blocks' own bytes page by page, then
 * state roots, pins, head and finality are written last.
 */
export class RestoreRun {
  readonly #db: RootDb
  readonly #blocks: BlocksDb
  readonly #sync: boolean
  readonly #upTo: number
  readonly #limits: CodecLimits
  readonly #options: RestoreBackupOptions
  readonly #readPin: PinReader
  readonly #out = { head: null as RestoreResult['head'], blocks: 0, bytes: 0, heights: 0, stateRoots: 0, pins: 0 }
  readonly #stateRoots = new Map<string, { cid: CID, height: number }>()
  #stateHead: { height: number, cid: CID } | null = null
  #pins: BackedUpPin[] = []
  #done = 0
  #total = 0
  #batch: StoreBatch
  /** Postings by window, written when the restore leaves a window (heights ascend) and at the end of each page. */
  readonly #postings: WindowBuilder

  constructor (db: RootDb, blocks: BlocksDb, sync: boolean, upTo: number, limits: CodecLimits, options: RestoreBackupOptions) {
    this.#db = db
    this.#blocks = blocks
    this.#sync = sync
    this.#upTo = upTo
    this.#limits = limits
    this.#options = options
    this.#readPin = cid => readPin(db, cid)
    this.#batch = startBatch(db, blocks)
    this.#postings = new WindowBuilder(key => db.getSync(key) ?? undefined)
  }

  async run (dest: BackupDestination, chain: BackupInfo[]): Promise<Omit<RestoreResult, 'destination' | 'skipped'>> {
    await this.#refuseNonEmpty()
    this.#total = chain.reduce((n, b) => n + b.manifest.blocks, 0)
    for (const b of chain) {
      for (const f of b.manifest.files) {
        // read again from the destination: every block is checked against its CID once more on the way in
        try {
          const car = await readCar(dest.read(keyOf(b.id, f.name), { signal: this.#options.signal }), b.id, f.name)
          if (f.kind === 'chain') await this.#chainFile(car.blocks(), b, f)
          else if (f.kind === 'state') await this.#stateFile(car.blocks(), b, f)
          else await this.#pinsFile(car.blocks(), b, f)
        } catch (err) {
          throw withDestination(err, dest)
        }
      }
      // the pins of the newest backup that has them are the ones restored
      if (b.manifest.files.every(f => f.kind !== 'pins')) this.#pins = []
    }
    await this.#flush()
    const last = chain[chain.length - 1].manifest
    await this.#finish(last.finalized)
    if (this.#out.head == null && chain.some(b => b.manifest.from != null && b.manifest.from <= this.#upTo)) {
      throw new CorruptDataError('restore: the backups index heights but none were restored')
    }
    this.#options.onProgress?.({ phase: 'restore', done: this.#done, total: this.#total, bytes: this.#out.bytes })
    const finalized = this.#out.head == null ? -1 : Math.min(last.finalized, this.#out.head.height)
    return { ...this.#out, stateRoot: this.#stateHead?.cid ?? null, finalized, backups: chain.map(b => b.id), ms: 0 }
  }

  async #refuseNonEmpty (): Promise<void> {
    if (this.#db.getSync(META_HEAD) != null) throw new RestoreTargetNotEmptyError('restore: the target store already has a head; restore into an empty store or data dir')
    for await (const _ of new HeightIndex(this.#db).entries(0, Number.MAX_SAFE_INTEGER)) {
      throw new RestoreTargetNotEmptyError('restore: the target store already indexes blocks')
    }
  }

  async #flush (): Promise<void> {
    if (this.#batch.length > 0) await this.#batch.write(this.#sync)
    this.#batch = startBatch(this.#db, this.#blocks)
  }

  #tick (): void {
    this.#options.signal?.throwIfAborted()
    if (++this.#done % PROGRESS_EVERY === 0) this.#options.onProgress?.({ phase: 'restore', done: this.#done, total: this.#total, bytes: this.#out.bytes })
  }

  async #put (cid: CID, bytes: Uint8Array, b: BackupInfo, f: BackupFile, index: number): Promise<void> {
    // verified a moment ago; checked again in case the file changed since
    if (!bytesMatchCid(cid, bytes)) throw new BackupCorruptError(`backup ${b.id}: ${f.name} block ${index} (${cid.toString()}) does not hash to its CID`, { backup: b.id, file: f.name, block: index, cid: cid.toString() })
    this.#batch.putBlock(cid, bytes)
    this.#out.blocks++
    this.#out.bytes += bytes.length
    if (this.#batch.length >= RESTORE_BATCH_BLOCKS) await this.#flush()
  }

  /**
   * A chain file: block 0 lists the index pages; each page lists entries of
   * the blocks that follow it. The blocks of a page are written, then indexed
   * when the next page (or the end) comes.
   */
  async #chainFile (blocks: Blocks, b: BackupInfo, f: BackupFile): Promise<void> {
    let entries: ChainEntry[] = []
    const heightOf = new Map<string, number>()
    let pageCids = new Set<string>()
    for await (const { cid, bytes, index: i } of blocks) {
      this.#tick()
      if (i === 0) { pageCids = new Set((dagCbor.decode<any>(bytes).pages as CID[]).map(mhKey)); continue }
      const key = mhKey(cid)
      if (pageCids.has(key)) {
        await this.#index(entries)
        entries = []
        heightOf.clear()
        for (const e of dagCbor.decode<any>(bytes).entries as ChainEntry[]) {
          if (e[0] > this.#upTo) continue
          entries.push(e)
          heightOf.set(mhKey(e[1]), e[0])
        }
        continue
      }
      const h = heightOf.get(key)
      if (h == null) continue // a block above the restore height
      if (entries.some(e => e[1].equals(cid))) {
        const header = decodeHeader(bytes)
        for (const p of [...header.txPages, ...header.receiptPages]) heightOf.set(mhKey(p), h)
      }
      await this.#put(cid, bytes, b, f, i)
    }
    await this.#index(entries)
  }

  /** Indexes and pins one page of chain entries from the blocks just written. */
  async #index (entries: ChainEntry[]): Promise<void> {
    await this.#flush()
    const get = (c: CID): Uint8Array | undefined => this.#blocks.getSync(blockKey(c)) ?? undefined
    for (const [h, cid, scope] of entries) {
      if (scope === SCOPE_DAG) {
        const block = blockFromBytes(cid, get(cid)!, get, this.#limits)
        recordBlock(this.#batch, block)
        indexBlock(this.#batch, block, this.#postings)
        setChainPin(this.#batch, cid, h, 'dag', this.#readPin)
      } else if (scope === SCOPE_HEADER) {
        indexHeaderOnly(this.#batch, cid, h, decodeHeader(get(cid)!).txCount)
        setChainPin(this.#batch, cid, h, 'header', this.#readPin)
      } else {
        indexHeightOnly(this.#batch, cid, h)
      }
      this.#out.head = { height: h, cid }
      this.#out.heights++
      if (this.#batch.length >= RESTORE_BATCH_BLOCKS) await this.#flush()
    }
    this.#postings.finish(this.#batch)
    await this.#flush()
  }

  /** A state file: trie nodes, and records of the state root at each height. */
  async #stateFile (blocks: Blocks, b: BackupInfo, f: BackupFile): Promise<void> {
    for await (const { cid, bytes, index: i } of blocks) {
      this.#tick()
      if (isStateNodeCid(cid)) { await this.#put(cid, bytes, b, f, i); continue }
      const v = dagCbor.decode<any>(bytes)
      if (!Array.isArray(v.roots)) continue
      for (const [h, root] of v.roots as Array<[number, CID]>) {
        if (h > this.#upTo) continue
        this.#batch.put(stateRootKey(h), root.bytes)
        this.#stateRoots.set(mhKey(root), { cid: root, height: h })
        this.#out.stateRoots++
        if (this.#stateHead == null || h > this.#stateHead.height) this.#stateHead = { height: h, cid: root }
      }
    }
  }

  /** A pins file: block 0 lists the pins, the rest are the pinned blocks. */
  async #pinsFile (blocks: Blocks, b: BackupInfo, f: BackupFile): Promise<void> {
    for await (const { cid, bytes, index: i } of blocks) {
      this.#tick()
      if (i === 0) {
        this.#pins = (dagCbor.decode<any>(bytes).pins as any[]).map(p => ({ cid: CID.asCID(p.cid)!, reasons: p.reasons, deep: p.deep, ...(typeof p.height === 'number' ? { height: p.height } : {}) }))
        continue
      }
      await this.#put(cid, bytes, b, f, i)
    }
  }

  /** Chain pins are in; state roots and the last backup's blob and user pins merge into them; head and finality last. */
  async #finish (finalizedInBackup: number): Promise<void> {
    for (const { cid, height } of this.#stateRoots.values()) holdInBatch(this.#batch, this.#readPin, cid, 'state', true, height)
    await this.#flush()
    for (const p of this.#pins) {
      const existing = readPin(this.#db, p.cid)
      const reasons = [...new Set<PinReason>([...(existing?.reasons ?? []), ...p.reasons])]
      const deep = [...new Set<PinReason>([...(existing?.deep ?? (existing?.recursive === true ? existing.reasons : [])), ...p.deep])]
      const height = existing?.height ?? p.height
      pinInBatch(this.#batch, { cid: p.cid, reasons, deep, recursive: deep.length > 0, state: 'pinned', ...(height != null ? { height } : {}) })
      this.#out.pins++
    }
    if (this.#stateRoots.size > 0) this.#batch.del(FLAT_META_KEY) // the state rebuilds its flat layer from the trie at open
    const head = this.#out.head
    if (head != null) {
      setHeadInBatch(this.#batch, head)
      const finalized = Math.min(finalizedInBackup, head.height)
      if (finalized >= 0) writeFinalizedInBatch(this.#batch, finalized)
    }
    await this.#batch.write(true)
  }
}
