import type { CID } from 'multiformats/cid'
import type { EncodedBlock } from '../codec/encode.ts'
import type { BlockRecords, HeightIndex } from '../indexes/heights.ts'
import { indexBlock, unindexBlock, type PostingsSink } from '../indexes/writer.ts'
import { BlockNotFoundError } from '../storage/errors.ts'
import type { StoreBatch } from '../storage/level.ts'
import type { WriteBatch } from '../storage/types.ts'
import { setHeadInBatch, writeFinalizedInBatch, type ChainMeta } from './meta.ts'
import type { Head, ReorgEvent } from './types.ts'

/** What a reorg reads and writes. */
export interface ReorgDeps {
  meta: ChainMeta
  heights: HeightIndex
  records: BlockRecords
  startBatch: () => StoreBatch
  sync: boolean
  allowGaps: boolean
  readEncoded: (cid: CID) => EncodedBlock
  /** The store's postings windows (src/indexes/windows.ts). */
  postings: Required<PostingsSink> & { abandon: (batch: WriteBatch) => void }
}

/**
 * Makes `tip` the canonical head: walks its ancestry back to the canonical
 * chain, then in ONE batch removes the index entries of the canonical blocks
 * past the fork point, indexes the new branch, and moves the head. Call under
 * the write lock; null when `tip` already is the head.
 */
export async function reorg (d: ReorgDeps, tip: CID): Promise<ReorgEvent | null> {
  const oldHead = d.meta.head()
  if (oldHead != null && oldHead.cid.equals(tip)) return null
  const branch: EncodedBlock[] = []
  let cursor: CID | null = tip
  let forkHeight = -1
  while (cursor != null) {
    const height = d.records.heightOf(cursor)
    if (height == null) {
      if (d.allowGaps && branch.length > 0) break
      throw new BlockNotFoundError(`setCanonical: block ${cursor.toString()} is not stored`)
    }
    if (d.heights.isCanonical(cursor, height)) { forkHeight = height; break }
    const block = d.readEncoded(cursor)
    branch.push(block)
    cursor = block.parent
  }
  branch.reverse()
  const batch = d.startBatch()
  const removed: CID[] = []
  let finalized: number
  let head: Head
  try {
    if (oldHead != null) {
      for (let h = oldHead.height; h > forkHeight; h--) {
        const cid = d.heights.at(h)
        if (cid == null) continue
        unindexBlock(batch, d.readEncoded(cid), d.postings)
        removed.push(cid)
      }
    }
    for (const block of branch) indexBlock(batch, block, d.postings)
    // a reorg below the finalized height means the index finalized another branch: finality restarts at the fork
    finalized = Math.min(d.meta.finalized(), forkHeight)
    if (finalized !== d.meta.finalized()) writeFinalizedInBatch(batch, finalized)
    head = branch.length > 0
      ? { height: branch[branch.length - 1].height, cid: branch[branch.length - 1].cid }
      : { height: forkHeight, cid: tip }
    setHeadInBatch(batch, head)
  } catch (err) {
    d.postings.abandon(batch)
    throw err
  }
  await batch.write(d.sync)
  d.meta.setHead(head)
  d.meta.setFinalized(finalized)
  removed.reverse()
  return { from: oldHead, to: head, forkHeight, removed, added: branch.map(b => b.cid) }
}
