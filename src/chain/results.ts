import type { CID } from 'multiformats/cid'
import type { EncodedBlock } from '../codec/encode.ts'
import type { StoredBlock } from '../codec/types.ts'
import type { BlockEvent } from './types.ts'

// What a local write reports per block: `storeBlocks`' results and the `block` events.

/** Where a result keeps its block and its ids once built (non-enumerable: JSON, spreads and equality do not see them). */
const BLOCK = Symbol('block')
const IDS = Symbol('txIds')
interface Lazy { [BLOCK]: EncodedBlock, [IDS]?: CID[] }

/**
 * One accessor for every result: the same getter and setter functions, so
 * V8 gives every result the same hidden class (a closure per object made
 * a hidden class per object, which V8 allocates in the old generation).
 */
const TX_IDS: PropertyDescriptor = {
  enumerable: true,
  configurable: true,
  get (this: Lazy): CID[] { return (this[IDS] ??= this[BLOCK].txs.map(t => t.id)) },
  set (this: Lazy, value: CID[]) { this[IDS] = value }
}

/**
 * What `storeBlocks` returns for a block (`created` false until the plan
 * writes it). `txIds` is built on first read (an own enumerable accessor,
 * so JSON and spreads still see it): a caller that never reads it makes
 * none of the block's id CIDs (`SlabTx`, src/codec/encode.ts).
 */
export function storedResult (block: EncodedBlock): StoredBlock {
  const result = { cid: block.cid, height: block.height, created: false }
  Object.defineProperty(result, BLOCK, { value: block, writable: true })
  Object.defineProperty(result, 'txIds', TX_IDS)
  return result as StoredBlock
}

/** The `block` event of a stored block: its result, canonical, with the same ids built on first read. */
export function blockEvent (result: StoredBlock): BlockEvent {
  const event = { cid: result.cid, height: result.height, created: result.created, canonical: true }
  Object.defineProperty(event, BLOCK, { value: (result as unknown as Lazy)[BLOCK], writable: true })
  Object.defineProperty(event, 'txIds', TX_IDS)
  return event as BlockEvent
}
