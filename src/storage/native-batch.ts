import { createRequire } from 'node:module'
import type { ClassicLevel } from 'classic-level'

/**
 * classic-level's native write batch, driven directly and reused.
 *
 * An array batch (`db.batch(ops)`) ends in classic-level's `batch_do`, which
 * makes about a dozen N-API calls per operation (reading `type`, `key` and
 * `value` off each object, the type as a fresh C++ string) and copies each
 * key and value twice; abstract-level walks the array once more before
 * that. `batch_put` on a native batch makes one call per operation and
 * copies once, into the batch's `leveldb::WriteBatch`. Measured with
 * classic-level alone (`scripts/level-batch-cost.ts`, 150 puts of 33 + 414
 * bytes per batch): 0.94-1.25 µs per operation on the JavaScript thread for
 * the array batch, 0.43-0.45 µs for `batch_put`, and ~1 µs less CPU per
 * operation in all.
 *
 * classic-level's own chained batch (`db.batch()`) would give the same calls,
 * but it allocates a new native batch per call and frees it only when V8
 * collects the JavaScript object (docs/UPSTREAM-CLASSIC-LEVEL.md): RSS grew
 * ~1 MiB per call while ingesting. Here a few native batches per database
 * are kept and cleared after each write, so the native memory is bounded by
 * the pool: a batch that grows past {@link MAX_POOLED_BYTES} moves to the
 * one large native batch each database keeps (its entries so far put into it
 * again), and one past {@link MAX_LARGE_BYTES}, or any while the large one
 * is in flight, is not written natively at all (the caller falls back to the
 * array batch, which frees its copy when the write returns). So a database
 * keeps at most {@link POOL_SIZE} batches of up to 4 MiB and one of up to
 * 16 MiB (a `leveldb::WriteBatch` keeps its capacity when cleared).
 *
 * The large batch is for the writes that move the head past a postings
 * window (src/indexes/windows.ts): ~15,000 entries and 5-6 MB every 256
 * blocks of the bench chain. As an array batch, classic-level's conversion
 * of one took 12-120 ms on the JavaScript thread (`batch_do`, ~2.5-8 µs per
 * entry with these values), ~7 % of a follower's import.
 *
 * The binding is classic-level's own (`classic-level/binding.js`, the same
 * module instance its database uses) and the database's native handle is
 * the instance's `context` symbol. Both are private to classic-level 3;
 * when either is missing this module reports no pool and every batch is an
 * array batch, as before. `CHAINSTORE_LEVEL_BATCH=array` forces that too
 * (for A/B measurements).
 */

/** A `leveldb::WriteBatch` owned by classic-level's binding (an N-API external). */
export type NativeBatch = object & { readonly __nativeBatch: unique symbol }

interface Binding {
  batch_init: (db: object) => NativeBatch
  batch_put: (batch: NativeBatch, key: Uint8Array, value: Uint8Array) => void
  batch_del: (batch: NativeBatch, key: Uint8Array) => void
  batch_clear: (batch: NativeBatch) => void
  batch_write: (batch: NativeBatch, options: { sync: boolean }) => Promise<void>
}

/** Bytes of keys and values above which a batch leaves the pool for the database's large native batch. */
export const MAX_POOLED_BYTES = 4 * 1024 * 1024
/** Bytes of keys and values above which a batch is written as an array batch (its native copy is not kept). */
export const MAX_LARGE_BYTES = 16 * 1024 * 1024
/** Native batches kept per database; a third write in flight takes a new one. */
const POOL_SIZE = 3

let binding: Binding | null | undefined
function loadBinding (): Binding | null {
  if (binding !== undefined) return binding
  binding = null
  if (process.env.CHAINSTORE_LEVEL_BATCH === 'array') return null
  try {
    const b = createRequire(import.meta.url)('classic-level/binding.js') as Partial<Binding>
    if (typeof b.batch_init === 'function' && typeof b.batch_put === 'function' && typeof b.batch_del === 'function' &&
      typeof b.batch_clear === 'function' && typeof b.batch_write === 'function') binding = b as Binding
  } catch {}
  return binding
}

/** The native batches of one database. */
export class NativeBatches {
  readonly #b: Binding
  readonly #context: object
  readonly #free: NativeBatch[] = []
  #large: NativeBatch | null = null
  #largeTaken = false

  constructor (b: Binding, context: object) {
    this.#b = b
    this.#context = context
  }

  /** A cleared native batch. */
  take (): NativeBatch {
    return this.#free.pop() ?? this.#b.batch_init(this.#context)
  }

  put (batch: NativeBatch, key: Uint8Array, value: Uint8Array): void { this.#b.batch_put(batch, key, value) }
  del (batch: NativeBatch, key: Uint8Array): void { this.#b.batch_del(batch, key) }

  /**
   * Writes the batch. The caller checks the database is open first: the
   * binding writes through the database's native handle without checking
   * it, and a close waits for a write already queued (classic-level counts
   * it as priority work), not for one queued after the close began.
   */
  async write (batch: NativeBatch, sync: boolean): Promise<void> {
    await this.#b.batch_write(batch, { sync })
  }

  /** Clears a batch and keeps it for the next one (up to the pool's size; the rest V8 frees). */
  release (batch: NativeBatch): void {
    this.#b.batch_clear(batch)
    if (batch === this.#large) this.#largeTaken = false
    else if (this.#free.length < POOL_SIZE) this.#free.push(batch)
  }

  /** The database's one large native batch, cleared, or null while another write holds it. */
  takeLarge (): NativeBatch | null {
    if (this.#largeTaken) return null
    this.#largeTaken = true
    this.#large ??= this.#b.batch_init(this.#context)
    return this.#large
  }
}

const pools = new WeakMap<object, NativeBatches | null>()

/** The native batches of `db`, or null when classic-level's binding or handle cannot be reached. */
export function nativeBatches (db: ClassicLevel<Uint8Array, Uint8Array>): NativeBatches | null {
  let pool = pools.get(db)
  if (pool !== undefined) return pool
  pool = null
  const b = loadBinding()
  if (b != null) {
    const symbol = Object.getOwnPropertySymbols(db).find(s => s.description === 'context')
    const context = symbol == null ? null : (db as unknown as Record<symbol, unknown>)[symbol]
    if (context != null && typeof context === 'object') {
      try {
        const pool0 = new NativeBatches(b, context)
        pool0.release(pool0.take())
        pool = pool0
      } catch {}
    }
  }
  pools.set(db, pool)
  return pool
}
