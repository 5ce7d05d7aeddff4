import type { CID } from 'multiformats/cid'
import { MissingBlockError } from './errors.ts'
import { linksOf } from './links.ts'
import type { BlockLoader, WalkOptions, WalkedBlock } from './types.ts'

export type { BlockLoader, WalkOptions, WalkedBlock }

/** Every link of a block `linksOf` can read; none for a codec it cannot. */
export function readableLinks (cid: CID, bytes: Uint8Array): CID[] {
  return linksOf(cid, bytes) ?? []
}

/** Queue entries a breadth-first walk may leave behind its read position before dropping them. */
const COMPACT_AT = 4096

const cidKey = (cid: CID): string => cid.toString()

/**
 * Walks the DAG under `root` through `load`, yielding each block once (dedup
 * by `key`), for any codec `linksOf` reads (dag-cbor, dag-pb, raw,
 * eth-state-trie). A block's links are read only after the consumer has taken
 * the block, so the consumer sees parents before their children and may stop
 * early; the signal is checked before every load and passed to it.
 */
export async function * walkDag (root: CID, load: BlockLoader, options: WalkOptions = {}): AsyncGenerator<WalkedBlock> {
  const { signal, expanded, reportMissing = false, maxDepth = Infinity } = options
  const key = options.key ?? cidKey
  const links = options.links ?? readableLinks
  const depthFirst = options.order !== 'breadth-first'
  const visited = new Set<string>()
  // a stack (depth-first) or a queue read from `head` (breadth-first)
  const pending: Array<{ cid: CID, depth: number }> = [{ cid: root, depth: 0 }]
  let head = 0
  while (head < pending.length) {
    const { cid, depth } = depthFirst ? pending.pop()! : pending[head++]
    // a long breadth-first walk drops the part of its queue already read
    if (head > COMPACT_AT && head * 2 > pending.length) { pending.splice(0, head); head = 0 }
    const k = key(cid)
    if (visited.has(k) || expanded?.has(k) === true) continue
    visited.add(k)
    signal?.throwIfAborted()
    const bytes = await load(cid, { signal })
    if (bytes == null) {
      if (!reportMissing) throw new MissingBlockError(`block ${cid.toString()} under ${root.toString()} is not stored`)
      yield { cid, depth }
      continue
    }
    yield { cid, depth, bytes }
    if (depth >= maxDepth) continue
    expanded?.add(k)
    const children = links(cid, bytes)
    if (depthFirst) {
      for (let i = children.length - 1; i >= 0; i--) pending.push({ cid: children[i], depth: depth + 1 })
    } else {
      for (const c of children) pending.push({ cid: c, depth: depth + 1 })
    }
  }
}
