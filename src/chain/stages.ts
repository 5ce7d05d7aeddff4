import type { EncodedBlock } from '../codec/encode.ts'
import { indexBlock, recordBlock, type PostingsSink } from '../indexes/writer.ts'
import type { WriteBatch } from '../storage/types.ts'
import type { StageContext, WriteStage } from './types.ts'

/** The block's IPLD blocks (header, transaction and receipt pages), where Helia's blockstore finds them. */
export const blockBytesStage: WriteStage = {
  name: 'block-bytes',
  stage (batch: WriteBatch, block: EncodedBlock): void {
    batch.putBlock(block.header.cid, block.header.bytes)
    for (const p of block.txPages) batch.putBlock(p.cid, p.bytes)
    for (const p of block.receiptPages) batch.putBlock(p.cid, p.bytes)
  }
}

/**
 * The block record (every stored block) and, on the canonical chain, every
 * index entry; postings go to `postings` (the store's windows). A batch
 * that is never written hands its postings back.
 */
export function indexStage (postings: PostingsSink & { abandon?: (batch: WriteBatch) => void }): WriteStage {
  return {
    name: 'indexes',
    stage (batch: WriteBatch, block: EncodedBlock, ctx: StageContext): void {
      recordBlock(batch, block)
      if (ctx.canonical) indexBlock(batch, block, postings)
    },
    abandoned (batch: WriteBatch): void { postings.abandon?.(batch) }
  }
}
