import type { CID } from 'multiformats/cid'
import type { EncodedBlock, IpldBlock } from '../codec/encode.ts'
import { latin1 } from '../indexes/window-rows.ts'

/**
 * Blocks kept by default, and their bytes at most: a follower catching up
 * with a writer at full speed asks for blocks a second or two behind the
 * head (~150-300 blocks of 33 KB on 2 cores); 64 blocks missed most of them.
 */
export const RECENT_DAGS = 512
export const RECENT_DAG_BYTES = 16 * 1024 * 1024

/**
 * The IPLD blocks (header, transaction and receipt pages) of the last blocks
 * written or imported, copied into one buffer per block as the commit hands
 * them over, for the block protocol to serve. Peers ask for a block just
 * after it is announced, once per peer: served from here, that is neither
 * a LevelDB read nor a re-hash per page per peer. The bytes were hashed
 * when encoded (a local write) or checked against their CIDs on arrival (an
 * import), and are never handed to anyone who may change them: callers
 * treat them as read-only. Holds at most `maxBlocks` blocks and `maxBytes`
 * bytes; the oldest go first.
 */
export class RecentDags {
  readonly #maxBlocks: number
  readonly #maxBytes: number
  readonly #dags = new Map<string, { blocks: IpldBlock[], bytes: number }>()
  #bytes = 0

  constructor (maxBlocks = RECENT_DAGS, maxBytes = RECENT_DAG_BYTES) {
    this.#maxBlocks = maxBlocks
    this.#maxBytes = maxBytes
  }

  /** Keeps a copy of a committed block's IPLD blocks (a block larger than the whole budget is not kept). */
  add (block: EncodedBlock): void {
    const parts = [block.header, ...block.txPages, ...block.receiptPages]
    let size = 0
    for (const p of parts) size += p.bytes.length
    if (size > this.#maxBytes) return
    const key = keyOf(block.cid)
    if (this.#dags.has(key)) return
    // one allocation per block: the pages may be views into a larger buffer
    // (a call's encoder slab, a received stream chunk) that must not be kept
    const buf = new Uint8Array(size)
    const blocks: IpldBlock[] = []
    let at = 0
    for (const p of parts) {
      buf.set(p.bytes, at)
      blocks.push({ cid: p.cid, bytes: buf.subarray(at, at + p.bytes.length) })
      at += p.bytes.length
    }
    this.#dags.set(key, { blocks, bytes: size })
    this.#bytes += size
    while (this.#dags.size > this.#maxBlocks || this.#bytes > this.#maxBytes) {
      const [oldest, entry] = this.#dags.entries().next().value!
      this.#dags.delete(oldest)
      this.#bytes -= entry.bytes
    }
  }

  /** A kept block's IPLD blocks, header first, or undefined. */
  get (cid: CID): IpldBlock[] | undefined {
    return this.#dags.get(keyOf(cid))?.blocks
  }

  /** Blocks and bytes held. */
  get size (): { blocks: number, bytes: number } {
    return { blocks: this.#dags.size, bytes: this.#bytes }
  }

  clear (): void {
    this.#dags.clear()
    this.#bytes = 0
  }
}

/** A CID's bytes as a flat latin1 string: a requested CID is a new object each time, and `toString()` would base32-encode it per lookup. */
function keyOf (cid: CID): string {
  return latin1(cid.bytes)
}
