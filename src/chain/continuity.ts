import type { HeightIndex } from '../indexes/heights.ts'
import type { Head } from './types.ts'

/**
 * Heights checked at open, back from the head. Acknowledged writes vanish
 * when LevelDB drops records of a damaged write-ahead log (it skips what it
 * cannot read unless paranoid checks are on, and classic-level does not turn
 * them on); the log holds only the writes since the last memtable flush
 * (a few MiB, far fewer than this many blocks), so a hole from a damaged log
 * is within this tail. `chainstore verify` checks every height.
 */
export const CONTINUITY_TAIL = 10_000

/** What the open check found: heights missing below the head, and heights indexed above it. */
export interface Continuity {
  /** Heights in the checked range with no canonical block (sorted; at most `limit` listed). */
  missing: number[]
  /** Heights checked (from..to). */
  from: number
  to: number
  /** A canonical height above the head (the head record is older than the index). */
  aboveHead: number | null
}

/**
 * Checks that the canonical heights from `head - tail` (or the chain's first
 * height) to the head are all indexed, and that none lies above the head.
 * With `allowGaps` the chain may legitimately skip heights: only the height
 * above the head is checked.
 */
export async function checkContinuity (heights: HeightIndex, head: Head | null, options: { allowGaps: boolean, tail?: number, limit?: number }): Promise<Continuity> {
  const tail = options.tail ?? CONTINUITY_TAIL
  const limit = options.limit ?? 1000
  if (head == null) {
    for await (const [h] of heights.entries(0, Number.MAX_SAFE_INTEGER)) return { missing: [], from: 0, to: -1, aboveHead: h }
    return { missing: [], from: 0, to: -1, aboveHead: null }
  }
  let start = head.height
  for await (const [h] of heights.entries(0, head.height)) { start = h; break }
  const from = Math.max(start, head.height - tail)
  const missing: number[] = []
  if (!options.allowGaps) {
    let expected = from
    for await (const [h] of heights.entries(from, head.height)) {
      for (; expected < h && missing.length < limit; expected++) missing.push(expected)
      expected = h + 1
    }
    for (; expected <= head.height && missing.length < limit; expected++) missing.push(expected)
  }
  let aboveHead: number | null = null
  for await (const [h] of heights.entries(head.height + 1, Number.MAX_SAFE_INTEGER)) { aboveHead = h; break }
  return { missing, from, to: head.height, aboveHead }
}

/** A sentence naming what the check found, or null when the chain is whole. */
export function describeContinuity (c: Continuity): string | null {
  const parts: string[] = []
  if (c.missing.length > 0) {
    const shown = c.missing.slice(0, 10).join(', ')
    parts.push(`${c.missing.length}${c.missing.length >= 1000 ? '+' : ''} canonical height(s) below the head are missing (${shown}${c.missing.length > 10 ? ', …' : ''}; checked ${c.from}..${c.to})`)
  }
  if (c.aboveHead != null) parts.push(`height ${c.aboveHead} is indexed above the head (${c.to}): the head record is older than the index`)
  return parts.length === 0 ? null : parts.join('; ')
}
