import { CID } from 'multiformats/cid'
import type { EncodedBlock } from '../codec/encode.ts'
import type { StageContext, WriteStage } from '../chain/types.ts'
import type { HeightIndex } from '../indexes/heights.ts'
import type { WriteBatch } from '../storage/types.ts'
import { keptBy, leavingWindow, type PinPolicy } from './policy.ts'
import { holdInBatch, releaseInBatch, type PinReader } from './records.ts'

/**
 * How a chain block is pinned: `dag` holds the header and every page
 * (recursive), `header` the header alone (its pages may be collected), null
 * nothing (the whole block may be collected).
 */
export type ChainPin = 'dag' | 'header' | null

/** Sets (or drops) the chain's hold on a block in a batch; other reasons' holds stay. */
export function setChainPin (batch: WriteBatch, cid: CID, height: number, pin: ChainPin, read?: PinReader): void {
  if (pin == null) releaseInBatch(batch, read, cid, 'chain')
  else holdInBatch(batch, read, cid, 'chain', pin === 'dag', height)
}

/** What the chain pin rules need to know. */
export interface ChainPinInit {
  policy: PinPolicy
  heights: HeightIndex
  readPin: PinReader
  finalized: () => number
}

/**
 * The pin policy applied to chain blocks: a write stage that pins each block
 * as the policy holds it at the batch's head, and repins the canonical blocks
 * that leave a window as the head moves, in the same batch.
 */
export class ChainPins implements WriteStage {
  readonly name = 'chain-pin'
  readonly #init: ChainPinInit

  constructor (init: ChainPinInit) {
    this.#init = init
  }

  /** How the pin policy holds a chain block at `height` when the head is at `head`; side-branch blocks are never final. */
  pinAt (height: number, head: number, canonical = true): ChainPin {
    const policy = this.#init.policy
    const ctx = { head: Math.max(head, height), now: Date.now() }
    const finalized = canonical && height <= this.#init.finalized()
    if (keptBy(policy, { kind: 'page', height, finalized }, ctx).length > 0) return 'dag'
    if (keptBy(policy, { kind: 'header', height, finalized }, ctx).length > 0) return 'header'
    return null
  }

  stage (batch: WriteBatch, block: EncodedBlock, ctx: StageContext): void {
    setChainPin(batch, block.cid, block.height, this.pinAt(block.height, ctx.head, ctx.canonical), this.#init.readPin)
  }

  /**
   * As the head moves from `from` to `to`, the canonical blocks that leave a
   * window of the pin policy get their pin records rewritten in the same batch
   * (header only, or none); GC then collects what is no longer held.
   */
  headMoved (batch: WriteBatch, from: number, to: number, at: (height: number) => CID | undefined): void {
    if (from < 0) return
    const heights = new Set<number>()
    for (const kind of ['page', 'header'] as const) {
      for (const r of leavingWindow(this.#init.policy, kind, from, to)) for (let h = r.from; h <= Math.min(r.to, from); h++) heights.add(h)
    }
    for (const h of heights) {
      const cid = at(h)
      if (cid != null) setChainPin(batch, cid, h, this.pinAt(h, to), this.#init.readPin)
    }
  }

  /** Heights in [from, to] whose pin may change when they become final: those a `finalizedOnly` rule could keep. */
  finalityHeights (from: number, to: number): number[] {
    const out = new Set<number>()
    for (const rule of this.#init.policy.rules) {
      if (rule.finalizedOnly !== true) continue
      const step = rule.checkpointEvery ?? 1
      for (let h = Math.ceil(from / step) * step; h <= to; h += step) out.add(h)
    }
    return [...out].sort((a, b) => a - b)
  }
}
