import { CID } from 'multiformats/cid'

/** One block announcement as it travels in the chain log. */
export interface Announcement {
  cid: string
  height: number
  parent: string | null
  /** Fork-choice weight the writer gives the block (stake behind it); 1 by default. */
  weight: number
  finalized: boolean
  txCount: number
}

/** The value of one chain-log entry: one or more announcements. */
export interface AnnouncementBatch {
  v: 1
  blocks: Announcement[]
}

/** Most announcements one entry may carry; more is refused as a payload. */
export const MAX_ANNOUNCEMENTS_PER_ENTRY = 4096
/** Largest weight a single announcement may carry. */
export const MAX_WEIGHT = 1_000_000

/** Why an entry's value is not an announcement batch, or undefined when it is one. */
export function checkAnnouncementBatch (value: unknown): string | undefined {
  const v = value as AnnouncementBatch
  if (v == null || typeof v !== 'object' || v.v !== 1 || !Array.isArray(v.blocks)) return 'not an announcement batch'
  if (v.blocks.length === 0 || v.blocks.length > MAX_ANNOUNCEMENTS_PER_ENTRY) return `announcement batch of ${v.blocks.length} blocks`
  for (const a of v.blocks) {
    if (a == null || typeof a !== 'object') return 'announcement is not an object'
    if (!Number.isSafeInteger(a.height) || a.height < 0) return 'announcement height'
    if (!Number.isSafeInteger(a.weight) || a.weight < 1 || a.weight > MAX_WEIGHT) return 'announcement weight'
    if (!Number.isSafeInteger(a.txCount) || a.txCount < 0) return 'announcement txCount'
    if (typeof a.finalized !== 'boolean') return 'announcement finalized flag'
    if (!isCidString(a.cid) || (a.parent !== null && !isCidString(a.parent))) return 'announcement cid'
    if (a.parent === null && a.height !== 0) return 'announcement without parent above height 0'
  }
  return undefined
}

function isCidString (s: unknown): boolean {
  if (typeof s !== 'string' || s.length > 128) return false
  try { CID.parse(s); return true } catch { return false }
}

interface Node {
  a: Announcement
  /** Sum of weights from the root to this block, once connected. */
  chainWeight: number
  /** Highest finalized height on the chain ending here (-1: none). */
  finalizedHeight: number
  connected: boolean
  children: Set<string>
}

/** Heights kept below the finalized height when the fold is checkpointed (forks branching above it still count). */
export const CHECKPOINT_MARGIN = 64
/** The checkpoint moves in steps of at least this many heights (each move walks the fold once). */
export const CHECKPOINT_STEP = 64

/**
 * The deterministic fork-choice fold over the chain log. Every peer that holds
 * the same announcements picks the same canonical tip:
 *   1. the chain whose latest finalized block is highest (finalized first),
 *   2. then the greater total weight from the root,
 *   3. then the lowest tip CID (string order).
 * Only chains connected to a root (a block without parent) through announced
 * blocks are candidates. Announcements are idempotent; a later one may only
 * turn `finalized` on. Blocks whose bytes contradicted their announcement are
 * `reject`ed with their descendants.
 *
 * Memory stays bounded on a chain that finalizes: {@link checkpoint} makes a
 * canonical block below finality the fold's root (it keeps its weight and
 * finalized height) and drops everything not descending from it: the chain
 * below and every fork that branched below it. Announcements at or below the
 * checkpoint are ignored from then on, so a conflicting finalization deeper
 * than the checkpoint can no longer win (one above it still does).
 */
export class ForkChoice {
  readonly #nodes = new Map<string, Node>()
  /** Announcements waiting for their parent, by parent CID. */
  readonly #orphans = new Map<string, Set<string>>()
  /** Rejected blocks by CID, with their announced height (dropped once below the checkpoint). */
  readonly #rejected = new Map<string, number>()
  #best: Node | null = null
  #checkpoint: Node | null = null

  get size (): number { return this.#nodes.size }

  /** Height of the fold's checkpoint (-1: none; the fold reaches back to the root). */
  get checkpointHeight (): number { return this.#checkpoint?.a.height ?? -1 }

  /** Adds an announcement; returns true when the canonical tip may have changed. */
  add (a: Announcement): boolean {
    if (this.#rejected.has(a.cid)) return false
    if (a.height <= this.checkpointHeight && a.cid !== this.#checkpoint?.a.cid) return false
    const known = this.#nodes.get(a.cid)
    if (known != null) {
      if (!a.finalized || known.a.finalized) return false
      known.a = { ...known.a, finalized: true }
      if (known.connected) this.#recompute(known)
      return true
    }
    const node: Node = { a, chainWeight: 0, finalizedHeight: -1, connected: false, children: new Set() }
    this.#nodes.set(a.cid, node)
    if (a.parent == null) {
      this.#connect(node, null)
      return true
    }
    const parent = this.#nodes.get(a.parent)
    if (parent?.connected === true && parent.a.height === a.height - 1) {
      parent.children.add(a.cid)
      this.#connect(node, parent)
      return true
    }
    let waiting = this.#orphans.get(a.parent)
    if (waiting == null) this.#orphans.set(a.parent, waiting = new Set())
    waiting.add(a.cid)
    return false
  }

  #connect (node: Node, parent: Node | null): void {
    const stack: Array<[Node, Node | null]> = [[node, parent]]
    while (stack.length > 0) {
      const [n, p] = stack.pop()!
      n.connected = true
      n.chainWeight = (p?.chainWeight ?? 0) + n.a.weight
      n.finalizedHeight = n.a.finalized ? n.a.height : (p?.finalizedHeight ?? -1)
      this.#consider(n)
      const waiting = this.#orphans.get(n.a.cid)
      if (waiting != null) {
        this.#orphans.delete(n.a.cid)
        for (const cid of waiting) {
          const child = this.#nodes.get(cid)
          if (child != null && child.a.height === n.a.height + 1) n.children.add(cid)
        }
      }
      // children connected earlier inherit a changed finalized height or weight
      for (const cid of n.children) {
        const child = this.#nodes.get(cid)
        if (child != null) stack.push([child, n])
      }
    }
  }

  /**
   * Makes the canonical block at `height` the fold's root, when it is at most
   * the canonical chain's finalized height minus `CHECKPOINT_MARGIN` (64) and
   * at least `CHECKPOINT_STEP` (64) above the current checkpoint; drops what
   * does not descend from it. Returns how many blocks were dropped. The caller
   * passes a height its own chain holds canonically (sync: the local
   * finalized height), so no path it still needs is cut.
   */
  checkpoint (height: number): number {
    const best = this.#best
    if (best == null) return 0
    const target = Math.min(height, best.finalizedHeight - CHECKPOINT_MARGIN)
    if (target < this.checkpointHeight + CHECKPOINT_STEP || target < 0) return 0
    let root: Node | undefined = best
    while (root != null && root.a.height > target) root = root.a.parent == null ? undefined : this.#nodes.get(root.a.parent)
    if (root == null || root.a.height !== target) return 0
    const keep = new Set<string>()
    const stack = [root]
    while (stack.length > 0) {
      const n = stack.pop()!
      keep.add(n.a.cid)
      for (const c of n.children) { const child = this.#nodes.get(c); if (child != null) stack.push(child) }
    }
    const before = this.#nodes.size
    const dropped = new Set<string>()
    for (const [cid, n] of this.#nodes) {
      // unconnected announcements above the checkpoint may still find their parent
      if (!keep.has(cid) && (n.connected || n.a.height <= target)) { this.#nodes.delete(cid); dropped.add(cid) }
    }
    // announcements waiting for a dropped block (or one below the checkpoint) never connect now
    for (let more = true; more;) {
      more = false
      for (const [parent, waiting] of this.#orphans) {
        const gone = dropped.has(parent)
        for (const c of waiting) {
          if (gone && this.#nodes.delete(c)) { dropped.add(c); more = true }
          if (!this.#nodes.has(c)) waiting.delete(c)
        }
        if (waiting.size === 0) this.#orphans.delete(parent)
      }
    }
    for (const [cid, h] of this.#rejected) if (h <= target) this.#rejected.delete(cid)
    this.#checkpoint = root
    return before - this.#nodes.size
  }

  #recompute (node: Node): void {
    const parent = node.a.parent == null ? null : this.#nodes.get(node.a.parent) ?? null
    this.#connect(node, parent)
    // a finalization can make a chain that was not the best the best, or
    // demote nothing; rescanning is rare (finalizations) and linear
    this.#best = null
    for (const n of this.#nodes.values()) if (n.connected) this.#consider(n)
  }

  #consider (n: Node): void {
    if (this.#best == null || better(n, this.#best)) this.#best = n
  }

  /** Removes a block (and what descends from it) whose bytes contradicted its announcement. */
  reject (cid: string): void {
    const stack = [cid]
    while (stack.length > 0) {
      const c = stack.pop()!
      const n = this.#nodes.get(c)
      this.#rejected.set(c, n?.a.height ?? Number.MAX_SAFE_INTEGER)
      if (n == null) continue
      this.#nodes.delete(c)
      for (const child of n.children) stack.push(child)
      for (const waiting of this.#orphans.get(c) ?? []) stack.push(waiting)
      this.#orphans.delete(c)
    }
    this.#best = null
    for (const n of this.#nodes.values()) if (n.connected) this.#consider(n)
  }

  /** The announcement of a block, if known. */
  get (cid: string): Announcement | undefined {
    return this.#nodes.get(cid)?.a
  }

  /** The canonical tip, or null before any root is announced. */
  tip (): Announcement | null {
    return this.#best?.a ?? null
  }

  /** The latest finalized block on the canonical chain, or null. */
  finalized (): Announcement | null {
    const height = this.#best?.finalizedHeight ?? -1
    if (height < 0) return null
    const path = this.pathFromTip(a => a.height <= height)
    const last = path[path.length - 1]
    return last?.height === height ? last : null
  }

  /**
   * The canonical chain from its tip down, stopping after `stop` returns true
   * for a block (e.g. one already canonical locally) or at the root.
   */
  pathFromTip (stop: (a: Announcement) => boolean = () => false): Announcement[] {
    const out: Announcement[] = []
    let n = this.#best
    while (n != null) {
      out.push(n.a)
      if (stop(n.a) || n.a.parent == null) break
      n = this.#nodes.get(n.a.parent) ?? null
    }
    return out
  }
}

function better (a: Node, b: Node): boolean {
  if (a.finalizedHeight !== b.finalizedHeight) return a.finalizedHeight > b.finalizedHeight
  if (a.chainWeight !== b.chainWeight) return a.chainWeight > b.chainWeight
  return a.a.cid < b.a.cid
}
