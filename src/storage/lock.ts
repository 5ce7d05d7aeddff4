/**
 * The lock between imports that write blocks before the pin that holds them
 * (a UnixFS file through Helia, a state snapshot) and deletions of blocks
 * (GC, fetch-cache eviction): an import waits for a running deletion, a
 * deletion waits until no import runs (it would see the import's blocks
 * unpinned and delete them).
 */
export class ImportDeleteLock {
  #deleting: Promise<void> | null = null
  #imports = 0
  readonly #drained: Array<() => void> = []

  /** True while a deletion runs. */
  get deleting (): boolean { return this.#deleting != null }
  /** True while an import runs. */
  get importing (): boolean { return this.#imports > 0 }

  /** Runs an import once no deletion runs; deletions wait for it. */
  async import<T> (fn: () => Promise<T>): Promise<T> {
    while (this.#deleting != null) await this.#deleting
    this.#imports++
    try {
      return await fn()
    } finally {
      if (--this.#imports === 0) for (const wake of this.#drained.splice(0)) wake()
    }
  }

  /** Runs a deletion once no import runs; imports wait for it. */
  async delete<T> (fn: () => Promise<T>): Promise<T> {
    let done!: () => void
    this.#deleting = new Promise<void>(resolve => { done = resolve })
    try {
      while (this.#imports > 0) await new Promise<void>(resolve => this.#drained.push(resolve))
      return await fn()
    } finally {
      this.#deleting = null
      done()
    }
  }
}
