import { LRUCache } from 'lru-cache'

/** Hits and misses of the memory tier. */
export interface CacheStats {
  hits: number
  misses: number
  entries: number
  bytes: number
  maxBytes: number
}

/**
 * The memory tier: decoded objects bounded by an estimate of their size in
 * bytes. A zero budget disables it.
 */
export class ObjectCache {
  readonly #lru: LRUCache<string, { value: unknown }> | undefined
  readonly #maxBytes: number
  hits = 0
  misses = 0

  constructor (maxBytes: number) {
    this.#maxBytes = maxBytes
    this.#lru = maxBytes > 0 ? new LRUCache({ maxSize: maxBytes, sizeCalculation: (_v, _k) => 1 }) : undefined
  }

  /** The cached value, counting a hit or a miss. */
  get<T> (key: string): T | undefined {
    const entry = this.#lru?.get(key)
    if (entry === undefined) { this.misses++; return undefined }
    this.hits++
    return entry.value as T
  }

  /** Caches a value whose decoded size is about `size` bytes. */
  set (key: string, value: unknown, size: number): void {
    if (this.#lru == null || size > this.#maxBytes / 4) return
    this.#lru.set(key, { value }, { size: Math.max(1, size) })
  }

  delete (key: string): void { this.#lru?.delete(key) }

  clear (): void { this.#lru?.clear() }

  stats (): CacheStats {
    return { hits: this.hits, misses: this.misses, entries: this.#lru?.size ?? 0, bytes: this.#lru?.calculatedSize ?? 0, maxBytes: this.#maxBytes }
  }
}
