import { blockBytesStage, indexStage } from '../chain/stages.ts'
import type { EncodedBlock } from '../codec/encode.ts'
import { setChainPin, type ChainPin } from '../pinning/chain-pin.ts'
import type { PinReader } from '../pinning/records.ts'
import type { PostingsSink } from '../indexes/writer.ts'
import type { WriteBatch } from '../storage/types.ts'

/**
 * Everything one block writes, as the store's stages write it with a given
 * chain pin: the ingest benchmark's raw baseline and the fixture builders
 * use it, so they write exactly the store's keys and bytes. Postings go to
 * `postings` (a `WindowBuilder` writes each window when the next starts,
 * as the store does when its head leaves one).
 */
export function addBlockToBatch (batch: WriteBatch, block: EncodedBlock, postings: PostingsSink, canonical = true, pin: ChainPin = 'dag', read?: PinReader): void {
  const ctx = { canonical, head: block.height }
  blockBytesStage.stage(batch, block, ctx)
  indexStage(postings).stage(batch, block, ctx)
  setChainPin(batch, block.cid, block.height, pin, read)
}
