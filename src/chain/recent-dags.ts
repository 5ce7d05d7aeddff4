import type { CID } from 'multiformats/cid'
import type { EncodedBlock, IpldBlock } from '../codec/encode.ts'
import { cidKey } from '../codec/cid.ts'

/**
 * Blocks kept by default, and their bytes at most: a follower catching up
 * with a writer at full speed asks for blocks a second or two behind the
 * head (~150-300 blocks of 33 KB on 2 cores); 64 blocks missed most of them.
 */
export const RECENT_DAGS = 512
export const RECENT_DAG_BYTES = 16 * 1024 * 1024

/** Bytes of one chunk of the ring the kept blocks are copied into by default; a block larger than a chunk is not kept. */
export const RECENT_DAG_CHUNK = 2 * 1024 * 1024

/**
 * The IPLD blocks (header, transaction and receipt pages) of the last blocks
 * written or imported, copied as the commit hands them over, for the block
 * protocol to serve. Peers ask for a block just after it is announced, once
 * per peer: served from here, that is neither a LevelDB read nor a re-hash
 * per page per peer. The bytes were hashed when encoded (a local write) or
 * checked against their CIDs on arrival (an import).
 *
 * The copies go into a ring of {@link RECENT_DAG_CHUNK}-byte chunks
 * allocated once: moving to the next chunk drops the blocks it held. (A
 * buffer of its own per block cost ~74 µs per block on the import thread:
 * a new ~34 KB off-heap allocation per block that V8 counts as external
 * memory and answers with GC work.) So a block's bytes are valid until
 * later blocks fill the ring around again: callers copy what they keep
 * before they await anything (the block protocol frames a block's pages
 * at once), and never change them. Holds at most `maxBlocks` blocks and
 * `maxBytes` bytes (rounded up to whole chunks of `chunkBytes`); the
 * oldest go first.
 */
export class RecentDags {
  readonly #maxBlocks: number
  readonly #chunkBytes: number
  readonly #chunks: Array<{ buf: Uint8Array | null, keys: string[], fill: number }>
  readonly #dags = new Map<string, { blocks: IpldBlock[], bytes: number, fill: number }>()
  #bytes = 0
  #chunk = 0
  #at = 0
  /** Counts chunk fills: an entry belongs to the fill that copied it. */
  #fills = 0

  constructor (maxBlocks = RECENT_DAGS, maxBytes = RECENT_DAG_BYTES, chunkBytes = RECENT_DAG_CHUNK) {
    this.#maxBlocks = maxBlocks
    this.#chunkBytes = chunkBytes
    this.#chunks = Array.from({ length: Math.max(1, Math.ceil(maxBytes / chunkBytes)) }, () => ({ buf: null, keys: [], fill: 0 }))
    this.#chunks[0].fill = ++this.#fills
  }

  /** Keeps a copy of a committed block's IPLD blocks (a block larger than a chunk is not kept, and drops nothing). */
  add (block: EncodedBlock): void {
    const parts = [block.header, ...block.txPages, ...block.receiptPages]
    let size = 0
    for (const p of parts) size += p.bytes.length
    if (size > this.#chunkBytes) return
    const key = cidKey(block.cid)
    if (this.#dags.has(key)) return
    if (this.#at + size > this.#chunkBytes) this.#nextChunk()
    const chunk = this.#chunks[this.#chunk]
    const buf = chunk.buf ??= new Uint8Array(this.#chunkBytes)
    const blocks: IpldBlock[] = []
    for (const p of parts) {
      buf.set(p.bytes, this.#at)
      blocks.push({ cid: p.cid, bytes: buf.subarray(this.#at, this.#at + p.bytes.length) })
      this.#at += p.bytes.length
    }
    chunk.keys.push(key)
    this.#dags.set(key, { blocks, bytes: size, fill: chunk.fill })
    this.#bytes += size
    while (this.#dags.size > this.#maxBlocks) {
      const [oldest, entry] = this.#dags.entries().next().value!
      this.#dags.delete(oldest)
      this.#bytes -= entry.bytes
    }
  }

  /** Moves to the next chunk of the ring, dropping the blocks it held. */
  #nextChunk (): void {
    this.#chunk = (this.#chunk + 1) % this.#chunks.length
    this.#at = 0
    const chunk = this.#chunks[this.#chunk]
    for (const k of chunk.keys) {
      const entry = this.#dags.get(k)
      if (entry == null || entry.fill !== chunk.fill) continue
      this.#dags.delete(k)
      this.#bytes -= entry.bytes
    }
    chunk.keys = []
    chunk.fill = ++this.#fills
  }

  /** A kept block's IPLD blocks, header first, or undefined. */
  get (cid: CID): IpldBlock[] | undefined {
    return this.#dags.get(cidKey(cid))?.blocks
  }

  /** Blocks and bytes held. */
  get size (): { blocks: number, bytes: number } {
    return { blocks: this.#dags.size, bytes: this.#bytes }
  }

  /** Drops every kept block and the ring's memory. */
  clear (): void {
    this.#dags.clear()
    this.#bytes = 0
    for (const c of this.#chunks) { c.buf = null; c.keys = [] }
    this.#at = 0
  }
}
