import { sha256Into } from '../codec/cid.ts'

/** Bytes of a sha2-256 digest. */
const DIGEST = 32

/**
 * The last `capacity` 32-byte digests seen, in memory allocated once: a ring
 * of digests and an open-addressed table (linear probing, backward-shift
 * deletion) of their ring slots. Eviction is CLOCK: a digest found again
 * gets a second chance before the hand replaces it.
 *
 * The replication memos (valid signatures, accepted entries, who gossiped an
 * entry) were Maps and Sets of strings: each filled for tens of minutes at
 * a few entries per second, so a soak read their filling as heap growth,
 * and every entry was a string or two for the GC. Digests are compared in
 * full: a hit is never a different key that shares a prefix. Keys that are
 * not digests already are hashed first ({@link digestOfString}).
 */
export class RecentDigests {
  readonly capacity: number
  readonly #ring: Uint8Array
  readonly #ref: Uint8Array
  /** Ring slot + 1 per table cell; 0 is empty. */
  readonly #table: Int32Array
  readonly #mask: number
  #hand = 0
  #size = 0

  constructor (capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`RecentDigests: capacity must be a positive integer, got ${capacity}`)
    this.capacity = capacity
    this.#ring = new Uint8Array(capacity * DIGEST)
    this.#ref = new Uint8Array(capacity)
    let cells = 2
    while (cells < capacity * 2) cells *= 2
    this.#table = new Int32Array(cells)
    this.#mask = cells - 1
  }

  get size (): number { return this.#size }

  /** The ring slot holding the digest at `digest[offset..offset+32]` (marked as used again), or -1. */
  slotOf (digest: Uint8Array, offset = 0): number {
    const cell = this.#find(digest, offset)
    if (cell < 0) return -1
    const slot = this.#table[cell] - 1
    this.#ref[slot] = 1
    return slot
  }

  has (digest: Uint8Array, offset = 0): boolean { return this.slotOf(digest, offset) >= 0 }

  /**
   * Adds the digest (a no-op but for its second chance when it is there
   * already) and returns its ring slot; when full, the digest the CLOCK hand
   * reaches first without a second chance is forgotten.
   */
  add (digest: Uint8Array, offset = 0): number {
    const found = this.slotOf(digest, offset)
    if (found >= 0) return found
    let slot: number
    if (this.#size < this.capacity) {
      slot = this.#size++
    } else {
      while (this.#ref[this.#hand] === 1) {
        this.#ref[this.#hand] = 0
        this.#hand = (this.#hand + 1) % this.capacity
      }
      slot = this.#hand
      this.#hand = (this.#hand + 1) % this.capacity
      this.#remove(this.#find(this.#ring, slot * DIGEST))
    }
    this.#ring.set(digest.subarray(offset, offset + DIGEST), slot * DIGEST)
    this.#ref[slot] = 0
    let cell = this.#home(this.#ring, slot * DIGEST)
    while (this.#table[cell] !== 0) cell = (cell + 1) & this.#mask
    this.#table[cell] = slot + 1
    return slot
  }

  /** Digests are uniform: their first four bytes are the hash. */
  #home (bytes: Uint8Array, offset: number): number {
    return (bytes[offset] | (bytes[offset + 1] << 8) | (bytes[offset + 2] << 16) | (bytes[offset + 3] << 24)) & this.#mask
  }

  #find (digest: Uint8Array, offset: number): number {
    let cell = this.#home(digest, offset)
    for (;;) {
      const e = this.#table[cell]
      if (e === 0) return -1
      if (this.#equals(e - 1, digest, offset)) return cell
      cell = (cell + 1) & this.#mask
    }
  }

  #equals (slot: number, digest: Uint8Array, offset: number): boolean {
    const ring = this.#ring
    const at = slot * DIGEST
    for (let i = 0; i < DIGEST; i++) if (ring[at + i] !== digest[offset + i]) return false
    return true
  }

  /** Empties a cell and shifts back the cells after it that probed past it, so no lookup stops early. */
  #remove (cell: number): void {
    const table = this.#table
    const mask = this.#mask
    table[cell] = 0
    let hole = cell
    let j = (cell + 1) & mask
    while (table[j] !== 0) {
      const home = this.#home(this.#ring, (table[j] - 1) * DIGEST)
      // move j into the hole unless its home lies cyclically in (hole, j]
      const stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j)
      if (!stays) {
        table[hole] = table[j]
        table[j] = 0
        hole = j
      }
      j = (j + 1) & mask
    }
  }
}

/** The sha2-256 digest of a string key (UTF-8) into `out`, to use it with {@link RecentDigests}. */
export function digestOfString (key: string, out: Uint8Array): Uint8Array {
  sha256Into(key, out, 0)
  return out
}
