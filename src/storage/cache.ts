import { ClockCache } from './clock-cache.ts'
import { flat } from '../codec/flat.ts'

/** Hits and misses of the memory tier. */
export interface CacheStats {
  hits: number
  misses: number
  entries: number
  bytes: number
  maxBytes: number
}

/** What the memory tier holds; each kind has its own CLOCK cache (clock-cache.ts) and share of the budget. */
export type CacheKind = 'block' | 'header' | 'tx'

/** Share of the byte budget each kind gets. */
const SHARES: Record<CacheKind, number> = { block: 0.7, header: 0.05, tx: 0.25 }

/**
 * The memory tier: decoded objects bounded by an estimate of their size in
 * bytes. Keys are the caller's own value (a height, or a CID string as
 * multiformats caches it) with no prefix concatenated: building a fresh key
 * string per lookup cost more than the lookup itself in the read bench.
 * A zero budget disables it.
 */
export class ObjectCache {
  readonly #kinds: Record<CacheKind, ClockCache<string | number, unknown>> | undefined
  readonly #maxBytes: number
  hits = 0
  misses = 0
  /** False with a zero budget: callers skip building keys (a CID's string) for a tier that holds nothing. */
  readonly enabled: boolean

  constructor (maxBytes: number) {
    this.#maxBytes = maxBytes
    this.enabled = maxBytes > 0
    if (maxBytes > 0) {
      const forKind = (kind: CacheKind): ClockCache<string | number, unknown> =>
        new ClockCache(Math.max(1, Math.floor(maxBytes * SHARES[kind])))
      this.#kinds = { block: forKind('block'), header: forKind('header'), tx: forKind('tx') }
    }
  }

  /** The cached value, counting a hit or a miss. */
  get<T> (kind: CacheKind, key: string | number): T | undefined {
    const value = this.#kinds?.[kind].get(key)
    if (value === undefined) { this.misses++; return undefined }
    this.hits++
    return value as T
  }

  /** Caches a value whose decoded size is about `size` bytes. */
  set (kind: CacheKind, key: string | number, value: unknown, size: number): void {
    const cache = this.#kinds?.[kind]
    if (cache == null || size > cache.maxSize / 4) return
    // a CID's string is a rope of one-character cons cells (~32 bytes each),
    // which the size estimate does not count: the entry keeps a flat copy
    cache.set(typeof key === 'string' ? flat(key) : key, value, Math.max(1, size))
  }

  clear (): void {
    if (this.#kinds == null) return
    for (const cache of Object.values(this.#kinds)) cache.clear()
  }

  stats (): CacheStats {
    let entries = 0
    let bytes = 0
    for (const cache of Object.values(this.#kinds ?? {})) { entries += cache.size; bytes += cache.calculatedSize }
    return { hits: this.hits, misses: this.misses, entries, bytes, maxBytes: this.#maxBytes }
  }
}
