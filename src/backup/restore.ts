import { join } from 'node:path'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { decodeHeader } from '../codec/decode.ts'
import { CorruptDataError } from '../codec/errors.ts'
import { blockFromBytes } from '../codec/from-bytes.ts'
import type { CodecLimits } from '../codec/types.ts'
import { parseConfig } from '../config/index.ts'
import { encodeBlockRecord } from '../indexes/records.ts'
import { indexBlock, recordBlock } from '../indexes/writer.ts'
import { runMigrations } from '../migrations/index.ts'
import { setChainPin } from '../pinning/chain-pin.ts'
import { setHeadInBatch } from '../chain/meta.ts'
import { holdInBatch, pinInBatch, readPin, type PinReason, type PinReader } from '../pinning/records.ts'
import { FLAT_META_KEY, isStateNodeCid, stateRootKey } from '../state/keys.ts'
import { META_HEAD, PREFIX, blockKey, digestKey, heightKey, prefixRange } from '../storage/keys.ts'
import { openLevel, startBatch, type BlocksDb, type RootDb, type StoreBatch } from '../storage/level.ts'
import { readCar } from './car.ts'
import { bytesMatchCid } from '../codec/cid.ts'
import { RESTORE_BATCH_BLOCKS, PROGRESS_EVERY, SCOPE_DAG, SCOPE_HEADER } from './constants.ts'
import { BackupCorruptError, BackupNotFoundError, InvalidBackupOptionsError, RestoreTargetNotEmptyError } from './errors.ts'
import { chainOf, scanBackups } from './manifest.ts'
import { mhKey } from './read-store.ts'
import { writeFinalizedInBatch } from '../chain/meta.ts'
import type { BackedUpPin, BackupFile, BackupInfo, MaintainedStore, RestoreBackupOptions, RestoreResult } from './types.ts'
import { resolveBackup, verifyChain } from './verify.ts'

/**
 * Restores a chain of backups (the full one, then each incremental up to
 * `id`, default the newest) into an empty store or data dir. With `height`,
 * a point in time: the canonical blocks up to it, the state roots up to it
 * (the state at it), the pins of the backup that covers it. The backups are
 * verified first (every block, every DAG, the manifest chain); a bad one is
 * refused before anything is written. Blocks are written, then indexed from
 * their own bytes (indexes are rebuilt, never copied); chain blocks are
 * pinned as the backup held them (whole, or header only), state roots are
 * pinned for `state`, blob and user pins come back as they were.
 */
export async function restoreBackup (dir: string, target: string | MaintainedStore, options: RestoreBackupOptions = {}): Promise<RestoreResult> {
  const started = performance.now()
  const all = await scanBackups(dir)
  const last = options.id != null ? await resolveBackup(dir, all, options.id) : all[all.length - 1]
  if (last == null) throw new BackupNotFoundError(`no backup in ${dir}`)
  let chain = chainOf(all, last)
  const height = options.height
  if (height != null) {
    if (!Number.isSafeInteger(height) || height < 0) throw new InvalidBackupOptionsError(`height: expected a non-negative integer, got ${String(height)}`)
    const top = last.manifest.to
    if (top == null || height > top) throw new InvalidBackupOptionsError(`height ${height}: the backups hold heights up to ${String(top)}`)
    chain = chain.filter(b => b.manifest.from == null || b.manifest.from <= height)
  }
  await verifyChain(chain, { onProgress: options.onProgress, signal: options.signal })
  const limits = options.limits ?? (typeof target === 'string' ? parseConfig({}).limits : target.config.limits)
  const run = async (db: RootDb, blocks: BlocksDb, sync: boolean): Promise<RestoreResult> => {
    const r = await restoreInto(db, blocks, sync, chain, height ?? Infinity, limits, options)
    return { ...r, ms: performance.now() - started }
  }
  if (typeof target === 'string') {
    const config = parseConfig({ dataDir: target })
    const { db, blocks } = await openLevel(target, config.level)
    try {
      await runMigrations(db)
      return await run(db, blocks, true)
    } finally {
      await db.close()
    }
  }
  const m = target.maintenance()
  try {
    return await m.exclusive(async () => await run(m.db, m.blocks, m.sync))
  } finally {
    m.afterRepair()
  }
}

async function restoreInto (db: RootDb, blocks: BlocksDb, sync: boolean, chain: BackupInfo[], upTo: number, limits: CodecLimits, options: RestoreBackupOptions): Promise<RestoreResult> {
  if (db.getSync(META_HEAD) != null) throw new RestoreTargetNotEmptyError('restore: the target store already has a head; restore into an empty store or data dir')
  for await (const _ of db.keys({ ...prefixRange(Uint8Array.of(PREFIX.HEIGHT)), limit: 1 })) throw new RestoreTargetNotEmptyError('restore: the target store already indexes blocks')
  const read: PinReader = cid => readPin(db, cid)
  const out = { head: null as RestoreResult['head'], blocks: 0, bytes: 0, heights: 0, stateRoots: 0, stateRoot: null as CID | null, pins: 0 }
  const stateRoots = new Map<string, { cid: CID, height: number }>()
  let stateHead: { height: number, cid: CID } | null = null
  let pins: BackedUpPin[] = []
  let done = 0
  const total = chain.reduce((n, b) => n + b.manifest.blocks, 0)
  let batch = startBatch(db, blocks)
  const flush = async (): Promise<void> => {
    if (batch.length > 0) await batch.write(sync)
    batch = startBatch(db, blocks)
  }
  const put = async (cid: CID, bytes: Uint8Array, b: BackupInfo, f: BackupFile, index: number): Promise<void> => {
    // verified a moment ago; checked again in case the file changed since
    if (!bytesMatchCid(cid, bytes)) throw new BackupCorruptError(`backup ${b.id}: ${f.name} block ${index} (${cid.toString()}) does not hash to its CID`, { backup: b.id, file: f.name, block: index, cid: cid.toString() })
    batch.putBlock(cid, bytes)
    out.blocks++
    out.bytes += bytes.length
    if (batch.length >= RESTORE_BATCH_BLOCKS) await flush()
  }
  const tick = (): void => { if (++done % PROGRESS_EVERY === 0) options.onProgress?.({ phase: 'restore', done, total, bytes: out.bytes }) }

  for (const b of chain) {
    for (const f of b.manifest.files) {
      const car = await readCar(join(b.dir, f.name), b.id)
      if (f.kind === 'chain') {
        // heights of the headers of the current index page, and of the pages of headers seen
        let entries: Array<[number, CID, number]> = []
        const heightOf = new Map<string, number>()
        const index = async (): Promise<void> => {
          await flush()
          for (const [h, cid, scope] of entries) {
            if (scope === SCOPE_DAG) {
              const enc = blockFromBytes(cid, blocks.getSync(blockKey(cid))!, c => blocks.getSync(blockKey(c)) ?? undefined, limits)
              recordBlock(batch, enc)
              indexBlock(batch, enc)
              setChainPin(batch, cid, h, 'dag', read)
            } else if (scope === SCOPE_HEADER) {
              const header = decodeHeader(blocks.getSync(blockKey(cid))!)
              batch.put(digestKey(PREFIX.BLOCK, cid.multihash.digest), encodeBlockRecord(h, header.txCount))
              batch.put(heightKey(h), cid.bytes)
              setChainPin(batch, cid, h, 'header', read)
            } else {
              // neither header nor pages were held: the height keeps its CID, the bytes can be fetched by it
              batch.put(heightKey(h), cid.bytes)
            }
            out.head = { height: h, cid }
            out.heights++
            if (batch.length >= RESTORE_BATCH_BLOCKS) await flush()
          }
          await flush()
          entries = []
          heightOf.clear()
        }
        let pageCids = new Set<string>()
        for await (const { cid, bytes, index: i } of car.blocks()) {
          options.signal?.throwIfAborted()
          tick()
          if (i === 0) { pageCids = new Set((dagCbor.decode<any>(bytes).pages as CID[]).map(mhKey)); continue }
          const key = mhKey(cid)
          if (pageCids.has(key)) {
            await index()
            for (const e of dagCbor.decode<any>(bytes).entries as Array<[number, CID, number]>) {
              if (e[0] > upTo) continue
              entries.push(e)
              heightOf.set(mhKey(e[1]), e[0])
            }
            continue
          }
          const h = heightOf.get(key)
          if (h == null) continue // a block above the restore height
          if (entries.some(e => e[1].equals(cid))) {
            for (const p of [...decodeHeader(bytes).txPages, ...decodeHeader(bytes).receiptPages]) heightOf.set(mhKey(p), h)
          }
          await put(cid, bytes, b, f, i)
        }
        await index()
      } else if (f.kind === 'state') {
        for await (const { cid, bytes, index: i } of car.blocks()) {
          options.signal?.throwIfAborted()
          tick()
          if (isStateNodeCid(cid)) { await put(cid, bytes, b, f, i); continue }
          const v = dagCbor.decode<any>(bytes)
          if (!Array.isArray(v.roots)) continue
          for (const [h, root] of v.roots as Array<[number, CID]>) {
            if (h > upTo) continue
            batch.put(stateRootKey(h), root.bytes)
            stateRoots.set(mhKey(root), { cid: root, height: h })
            out.stateRoots++
            if (stateHead == null || h > stateHead.height) stateHead = { height: h, cid: root }
          }
        }
      } else {
        for await (const { cid, bytes, index: i } of car.blocks()) {
          options.signal?.throwIfAborted()
          tick()
          if (i === 0) { pins = (dagCbor.decode<any>(bytes).pins as any[]).map(p => ({ cid: CID.asCID(p.cid)!, reasons: p.reasons, deep: p.deep, ...(typeof p.height === 'number' ? { height: p.height } : {}) })); continue }
          await put(cid, bytes, b, f, i)
        }
      }
    }
    if (b.manifest.files.every(f => f.kind !== 'pins')) pins = []
  }
  await flush()
  // pins: the chain's are in; state roots and the last backup's blob and user pins merge into them
  for (const { cid, height } of stateRoots.values()) holdInBatch(batch, read, cid, 'state', true, height)
  await flush()
  for (const p of pins) {
    const existing = readPin(db, p.cid)
    const reasons = [...new Set<PinReason>([...(existing?.reasons ?? []), ...p.reasons])]
    const deep = [...new Set<PinReason>([...(existing?.deep ?? (existing?.recursive === true ? existing.reasons : [])), ...p.deep])]
    pinInBatch(batch, { cid: p.cid, reasons, deep, recursive: deep.length > 0, state: 'pinned', ...(existing?.height != null ? { height: existing.height } : p.height != null ? { height: p.height } : {}) })
    out.pins++
  }
  if (stateRoots.size > 0) batch.del(FLAT_META_KEY) // the state rebuilds its flat layer from the trie at open
  const lastApplied = chain[chain.length - 1].manifest
  if (out.head != null) {
    setHeadInBatch(batch, out.head)
    const finalized = Math.min(lastApplied.finalized, out.head.height)
    if (finalized >= 0) writeFinalizedInBatch(batch, finalized)
  }
  await batch.write(true)
  if (out.head == null && chain.some(b => b.manifest.from != null && b.manifest.from <= upTo)) throw new CorruptDataError('restore: the backups index heights but none were restored')
  options.onProgress?.({ phase: 'restore', done, total, bytes: out.bytes })
  out.stateRoot = stateHead?.cid ?? null
  return { ...out, finalized: out.head == null ? -1 : Math.min(lastApplied.finalized, out.head.height), backups: chain.map(b => b.id), ms: 0 }
}

export type { StoreBatch }
