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
  readonly #lrus: Record<CacheKind, ClockCache<string | number, unknown>> | undefined
  readonly #maxBytes: number
  hits = 0
  misses = 0
  /** False with a zero budget: callers skip building keys (a CID's string) for a tier that holds nothing. */
  readonly enabled: boolean

  constructor (maxBytes: number) {
    this.#maxBytes = maxBytes
    this.enabled = maxBytes > 0
    if (maxBytes > 0) {
      const lru = (kind: CacheKind): ClockCache<string | number, unknown> =>
        new ClockCache(Math.max(1, Math.floor(maxBytes * SHARES[kind])))
      this.#lrus = { block: lru('block'), header: lru('header'), tx: lru('tx') }
    }
  }

  /** The cached value, counting a hit or a miss. */
  get<T> (kind: CacheKind, key: string | number): T | undefined {
    const value = this.#lrus?.[kind].get(key)
    if (value === undefined) { this.misses++; return undefined }
    this.hits++
    return value as T
  }

  /** Caches a value whose decoded size is about `size` bytes. */
  set (kind: CacheKind, key: string | number, value: unknown, size: number): void {
    const lru = this.#lrus?.[kind]
    if (lru == null || size > lru.maxSize / 4) return
    // a CID's string is a rope of one-character cons cells (~32 bytes each),
    // which the size estimate does not count: the entry keeps a flat copy
    lru.set(typeof key === 'string' ? flat(key) : key, value, Math.max(1, size))
  }

  clear (): void {
    if (this.#lrus == null) return
    for (const lru of Object.values(this.#lrus)) lru.clear()
  }

  stats (): CacheStats {
    let entries = 0
    let bytes = 0
    for (const lru of Object.values(this.#lrus ?? {})) { entries += lru.size; bytes += lru.calculatedSize }
    return { hits: this.hits, misses: this.misses, entries, bytes, maxBytes: this.#maxBytes }
  }
}
