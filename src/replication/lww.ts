/**
 * A last-writer-wins map folded from an OrbitDB key-value log: for each key,
 * the entry with the greatest (Lamport time, writer id, entry hash) wins, a
 * DEL being a tombstone. The order is total and the fold commutative and
 * idempotent, so every peer holding the same entries holds the same values,
 * whatever order the entries arrived in — what OrbitDB's KeyValueIndexed
 * index does not give (docs/PITFALLS.md): its incremental update lets an
 * older concurrent entry that arrives later overwrite a newer value.
 *
 * Ordering by the log's own clock is safe for one writer across crashes:
 * OrbitDB 4 writes the entry, its index record and the heads (one key) before
 * an append returns, so a reopened log's clock starts above every
 * acknowledged entry.
 */

interface Winner<V> { time: number, writer: string, hash: string, op: 'PUT' | 'DEL', value: V | undefined }

/** The shape of an OrbitDB entry this fold reads. */
export interface KvLogEntry {
  hash: string
  next: string[]
  clock: { id: string, time: number }
  payload: { op: string, key: string, value?: unknown }
}

/** The minimal OrbitDB log surface used to walk a joined entry's ancestry. */
export interface KvLog {
  get: (hash: string) => Promise<KvLogEntry | undefined>
  iterator: () => AsyncIterable<KvLogEntry>
}

export class LwwMap<V> {
  readonly #best = new Map<string, Winner<V>>()
  readonly #seen = new Set<string>()

  /** Entries folded so far. */
  get entries (): number { return this.#seen.size }

  /** Folds one entry (idempotent); returns whether it is new. */
  apply (e: KvLogEntry): boolean {
    if (this.#seen.has(e.hash)) return false
    this.#seen.add(e.hash)
    const key = e.payload?.key
    const op = e.payload?.op
    if (typeof key !== 'string' || (op !== 'PUT' && op !== 'DEL')) return true
    const c: Winner<V> = { time: Number(e.clock?.time ?? 0), writer: String(e.clock?.id ?? ''), hash: String(e.hash), op, value: e.payload.value as V | undefined }
    const cur = this.#best.get(key)
    if (cur == null || wins(c, cur)) this.#best.set(key, c)
    return true
  }

  /** Folds every entry of a log (at open). */
  async applyAll (log: KvLog): Promise<void> {
    for await (const e of log.iterator()) this.apply(e)
  }

  /**
   * Folds an entry OrbitDB reported as added and every ancestor not folded
   * yet: a join adds a whole branch but reports only its head.
   */
  async applyWithAncestors (log: KvLog, entry: KvLogEntry): Promise<number> {
    let added = 0
    const stack: KvLogEntry[] = [entry]
    while (stack.length > 0) {
      const e = stack.pop()!
      if (!this.apply(e)) continue
      added++
      for (const h of e.next ?? []) {
        if (this.#seen.has(h)) continue
        const parent = await log.get(h)
        if (parent != null) stack.push(parent)
      }
    }
    return added
  }

  get (key: string): V | undefined {
    const w = this.#best.get(key)
    return w?.op === 'PUT' ? w.value : undefined
  }

  /** Live keys and values, by key. */
  list (): Array<[string, V]> {
    const out: Array<[string, V]> = []
    for (const [k, w] of this.#best) if (w.op === 'PUT') out.push([k, w.value as V])
    return out.sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)
  }
}

function wins<V> (a: Winner<V>, b: Winner<V>): boolean {
  if (a.time !== b.time) return a.time > b.time
  if (a.writer !== b.writer) return a.writer > b.writer
  return a.hash > b.hash
}
