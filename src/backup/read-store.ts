import type { CID } from 'multiformats/cid'
import type { BlocksDb, RootDb } from '../storage/level.ts'

/** Bytes a LevelDB iterator reads ahead per batch on long scans. */
export const ITERATOR_BATCH_BYTES = 1 << 20

/** A LevelDB snapshot (classic-level), passed as `{ snapshot }` to reads. */
export type Snapshot = { close: () => Promise<void> }

/** Reads of one consistent view of the store: the root keyspace and the blocks, under a LevelDB snapshot. */
export interface StoreView {
  db: RootDb
  blocks: BlocksDb
  get: (key: Uint8Array) => Uint8Array | undefined
  block: (key: string) => Uint8Array | undefined
  /** `{ snapshot }`: pass to other reads (a sublevel's iterator) of the same view. */
  readOptions: Record<string, unknown>
  iterator: (range: { gte?: Uint8Array, gt?: Uint8Array, lte?: Uint8Array, lt?: Uint8Array }) => AsyncIterable<[Uint8Array, Uint8Array]>
  close: () => Promise<void>
}

/** Opens a snapshot view: what a backup reads stays as it was when the backup started, whatever writes or GC do meanwhile. */
export function openView (db: RootDb, blocks: BlocksDb): StoreView {
  const snapshot = (db as any).snapshot() as Snapshot
  const opts = { snapshot } as any
  // bigger iterator batches: fewer hops to LevelDB's thread pool on long scans
  const iterOpts = { snapshot, highWaterMarkBytes: ITERATOR_BATCH_BYTES } as any
  return {
    db,
    blocks,
    readOptions: iterOpts,
    get: key => db.getSync(key, opts) ?? undefined,
    block: key => blocks.getSync(key, opts) ?? undefined,
    iterator: range => db.iterator({ ...range, ...iterOpts }) as AsyncIterable<[Uint8Array, Uint8Array]>,
    close: async () => { await snapshot.close() }
  }
}


/** A compact set key for a CID: its multihash (codecs differ, bytes do not). */
export function mhKey (cid: CID): string {
  return Buffer.from(cid.multihash.bytes.buffer, cid.multihash.bytes.byteOffset, cid.multihash.bytes.length).toString('latin1')
}
