import type { CID } from 'multiformats/cid'
import type { DroppedRoot } from '../state/types.ts'
import type { WriteBatch } from '../storage/types.ts'
import { keptBy, leavingWindow, type PinPolicy } from './policy.ts'
import { holdInBatch, releaseInBatch, type PinReader } from './records.ts'

/** What the state pins read of the state store. */
export interface StateRoots {
  head: () => { height: number, root: CID } | undefined
  rootAt: (height: number) => Promise<CID | undefined>
}

/**
 * The pin policy's `state` rules as the state store's commit and rollback
 * hooks: every root a commit records is pinned (recursive: the whole trie) in
 * the commit's batch, and the roots the rules no longer keep are released.
 */
export class StatePins {
  readonly #policy: PinPolicy
  readonly #readPin: PinReader
  #state: StateRoots | null = null

  constructor (policy: PinPolicy, readPin: PinReader) {
    this.#policy = policy
    this.#readPin = readPin
  }

  /** The state store the hooks read (opened after the hooks are handed to it). */
  attach (state: StateRoots): void {
    this.#state = state
  }

  /**
   * Pins a state root in its commit's batch and releases the roots the
   * policy's `state` rules no longer keep: the previous head's root when no
   * rule keeps state history, or the heights leaving a `state` window. A root
   * still recorded at a later height keeps its pin (the record's height is
   * the latest height that holds it).
   */
  async commit (batch: WriteBatch, root: CID, height: number): Promise<void> {
    const previous = this.#state?.head()
    const candidates = new Set<number>()
    if (previous != null && previous.height < height) {
      candidates.add(previous.height)
      for (const r of leavingWindow(this.#policy, 'state', previous.height, height)) for (let h = r.from; h <= Math.min(r.to, previous.height); h++) candidates.add(h)
    }
    const ctx = { head: height, now: Date.now() }
    for (const h of candidates) {
      if (keptBy(this.#policy, { kind: 'state', height: h }, ctx).length > 0) continue
      const old = await this.#state!.rootAt(h)
      if (old == null || old.equals(root)) continue
      if (this.#readPin(old)?.height === h) releaseInBatch(batch, this.#readPin, old, 'state')
    }
    holdInBatch(batch, this.#readPin, root, 'state', true, height)
  }

  /** A rollback's dropped roots lose their state pin (unless a kept height records the same root); the root rolled back to is held again. */
  async rollback (batch: WriteBatch, dropped: DroppedRoot[]): Promise<void> {
    for (const d of dropped) if (!d.stillRecorded) releaseInBatch(batch, this.#readPin, d.root, 'state')
    const lowest = dropped.length > 0 ? Math.min(...dropped.map(d => d.height)) - 1 : undefined
    const target = lowest != null && lowest >= 0 ? await this.#state?.rootAt(lowest) : undefined
    if (target != null && lowest != null) holdInBatch(batch, this.#readPin, target, 'state', true, lowest)
  }
}
