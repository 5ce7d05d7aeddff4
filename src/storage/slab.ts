/** Bytes of one slab chunk: well above V8's 64-byte on-heap typed-array limit. */
export const SLAB_CHUNK = 64 * 1024

/**
 * A bump allocator of byte views over a few large ArrayBuffers. V8 keeps a
 * small `Uint8Array` on its heap, and classic-level's native put (like
 * multiformats' CID constructor) moves every such array off-heap one by one
 * before it can read it; views of one off-heap chunk are read in place.
 * The index stage takes every key and small value of a block from one slab.
 */
export class Slab {
  readonly #chunk: number
  #buf: Uint8Array
  #off = 0

  constructor (chunk = SLAB_CHUNK) {
    this.#chunk = chunk
    this.#buf = new Uint8Array(chunk)
  }

  /** A zeroed view of `n` bytes. */
  take (n: number): Uint8Array {
    if (this.#off + n > this.#buf.length) {
      this.#buf = new Uint8Array(Math.max(this.#chunk, n))
      this.#off = 0
    }
    const out = this.#buf.subarray(this.#off, this.#off + n)
    this.#off += n
    return out
  }
}
