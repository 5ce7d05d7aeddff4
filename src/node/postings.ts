import type { CID } from 'multiformats/cid'
import type { Head } from '../chain/types.ts'
import type { EncodedBlock } from '../codec/encode.ts'
import type { Logger } from '../logger.ts'
import { HeightIndex } from '../indexes/heights.ts'
import type { BlockPostings, PostingWindows } from '../indexes/windows.ts'
import { postingsOf } from '../indexes/writer.ts'
import { CURRENT_SCHEMA } from '../migrations/index.ts'
import { WriteFailedError } from '../storage/errors.ts'
import { writeU32 } from '../storage/keys.ts'
import { startBatch, type BlocksDb, type RootDb } from '../storage/level.ts'

/** What loading and closing the postings windows work on. */
export interface PostingsParts {
  db: RootDb
  blocks: BlocksDb
  sync: boolean
  log: Logger
  postings: PostingWindows
  head: () => Head | null
  /** A stored block's bytes by CID (throws when its pages are not held). */
  encoded: (cid: CID) => EncodedBlock
}

/**
 * What a saved postings window must match to be read back at open: the
 * schema (a migration may change the windows) and the head's CID.
 */
function postingsStamp (head: CID): Uint8Array {
  const out = new Uint8Array(4 + head.bytes.length)
  writeU32(out, 0, CURRENT_SCHEMA)
  out.set(head.bytes, 4)
  return out
}

/** Loads the head's postings window into memory (at open, after a repair or restore): read back as the last clean close saved it, or rebuilt from its blocks. */
export async function loadPostings (p: PostingsParts): Promise<void> {
  const heightIndex = new HeightIndex(p.db)
  const postingsAt = (h: number): BlockPostings | undefined => {
    const cid = heightIndex.at(h)
    if (cid == null) return undefined
    // a block whose pages are not held (header-only, pruned) has no postings to rebuild
    try { return postingsOf(p.encoded(cid)) } catch { return undefined }
  }
  const head = p.head()
  const started = performance.now()
  const opened = await p.postings.open(head?.height ?? -1, postingsAt, startBatch(p.db, p.blocks), p.sync, head == null ? undefined : postingsStamp(head.cid))
  if (opened.from !== 'empty') p.log.debug({ ...opened, ms: Math.round(performance.now() - started) }, `postings: the head's window (${opened.blocks} blocks) ${opened.from === 'saved' ? 'read back as the last clean close saved it' : 'rebuilt from its blocks'}`)
}

/** Writes the postings windows held in memory and saves the head's for the next open (at a clean close). */
export async function closePostings (p: PostingsParts): Promise<void> {
  if (p.db.status !== 'open') return
  const head = p.head()
  try {
    await p.postings.close(startBatch(p.db, p.blocks), p.sync, head == null ? undefined : { stamp: postingsStamp(head.cid), head: head.height })
  } catch (err) {
    // a store whose writes are refused (an earlier write failed) still closes: nothing is
    // lost, the next open rebuilds the head's window from its blocks
    if (!(err instanceof WriteFailedError)) throw err
    p.log.warn({ err }, 'postings: the head\'s window was not written at close (writes are refused); the next open rebuilds it from its blocks')
  }
}
