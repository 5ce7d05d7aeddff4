import type { ClassicLevel } from 'classic-level'
import { MAX_PAGE_LIMIT } from '../config/constants.ts'
import { ChainStoreError } from '../errors.ts'
import { InvalidQueryError, StoreClosedError, WriteFailedError } from './errors.ts'
import { KV_SUBLEVEL } from './keys.ts'

/** A namespace name that is empty, too long or uses characters outside [a-z0-9_.-]. */
export class InvalidNamespaceError extends ChainStoreError {}

/** One operation of an atomic kv batch. */
export type KvBatchOp<V> = { type: 'put', key: string, value: V } | { type: 'del', key: string }

/** Range and paging of `iterate`. Bounds are compared as UTF-8 bytes. */
export interface KvRange {
  gt?: string
  gte?: string
  lt?: string
  lte?: string
  /** Only keys starting with this (combined with the bounds above). */
  prefix?: string
  /** At most this many entries, 1..1000 (default 1000). */
  limit?: number
  reverse?: boolean
  signal?: AbortSignal
}

/** A consistent read view over a namespace: later writes are invisible to it. Close it when done. */
export interface KvView<V> {
  get: (key: string) => Promise<V | undefined>
  getMany: (keys: string[]) => Promise<Array<V | undefined>>
  iterate: (range?: KvRange) => AsyncGenerator<[string, V]>
  close: () => Promise<void>
}

/** A namespaced key-value store over the node's LevelDB (values are JSON). */
export interface KvStore<V = unknown> {
  readonly namespace: string
  get: (key: string) => Promise<V | undefined>
  getMany: (keys: string[]) => Promise<Array<V | undefined>>
  put: (key: string, value: V) => Promise<void>
  del: (key: string) => Promise<void>
  /** Applies every operation or none. */
  batch: (ops: Array<KvBatchOp<V>>) => Promise<void>
  iterate: (range?: KvRange) => AsyncGenerator<[string, V]>
  /** Opens a consistent read view (a LevelDB snapshot) for multi-key reads. */
  snapshot: () => KvView<V>
}

const NAMESPACE = /^[a-z0-9][a-z0-9_.-]{0,63}$/

function checkKey (key: unknown): string {
  if (typeof key !== 'string' || key.length === 0 || key.length > 1024) {
    throw new InvalidQueryError(`kv key: expected a non-empty string of at most 1024 characters, got ${typeof key}`)
  }
  return key
}

function rangeOptions (range: KvRange): Record<string, unknown> {
  const limit = range.limit ?? MAX_PAGE_LIMIT
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE_LIMIT) {
    throw new InvalidQueryError(`limit: expected an integer from 1 to ${MAX_PAGE_LIMIT}, got ${String(limit)}`)
  }
  const opts: Record<string, unknown> = { limit, reverse: range.reverse === true }
  for (const k of ['gt', 'gte', 'lt', 'lte'] as const) if (range[k] != null) opts[k] = range[k]
  if (range.prefix != null) {
    if (opts.gte == null && opts.gt == null) opts.gte = range.prefix
    if (opts.lt == null && opts.lte == null) opts.lt = range.prefix + '\uffff'
  }
  return opts
}

/**
 * Opens the kv store of a namespace: a sublevel of the node's LevelDB, so kv
 * writes share its durability and a snapshot covers the whole database.
 */
export function openKv<V> (db: ClassicLevel<Uint8Array, Uint8Array>, namespace: string, options: { sync: boolean, isOpen: () => boolean }): KvStore<V> {
  if (typeof namespace !== 'string' || !NAMESPACE.test(namespace)) {
    throw new InvalidNamespaceError(`namespace: expected 1-64 characters of [a-z0-9_.-] starting with a letter or digit, got "${String(namespace).slice(0, 70)}"`)
  }
  const sub = db.sublevel(KV_SUBLEVEL).sublevel<string, V>(namespace, { keyEncoding: 'utf8', valueEncoding: 'json' })
  // sublevel typings omit classic-level's `sync`; the root honours it for sublevel writes
  const write = { sync: options.sync } as any
  const open = (): void => { if (!options.isOpen()) throw new StoreClosedError('store is stopped') }
  const guardWrite = async (fn: () => Promise<void>): Promise<void> => {
    open()
    try {
      await fn()
    } catch (err) {
      // the root database fails stop on its own (GuardedLevel in level.ts)
      if (err instanceof WriteFailedError) throw err
      throw new WriteFailedError(`kv write to "${namespace}" failed: ${(err as Error).message}`, { cause: err })
    }
  }
  async function * iterate (range: KvRange = {}, snapshot?: unknown): AsyncGenerator<[string, V]> {
    open()
    const opts = rangeOptions(range)
    for await (const entry of sub.iterator({ ...opts, ...(snapshot != null ? { snapshot } : {}) } as any)) {
      range.signal?.throwIfAborted()
      yield entry as [string, V]
    }
  }
  return {
    namespace,
    async get (key) { open(); return await sub.get(checkKey(key)) },
    async getMany (keys) { open(); return await sub.getMany(keys.map(checkKey)) },
    async put (key, value) { checkKey(key); await guardWrite(async () => { await sub.put(key, value, write) }) },
    async del (key) { checkKey(key); await guardWrite(async () => { await sub.del(key, write) }) },
    async batch (ops) {
      for (const op of ops) {
        checkKey(op.key)
        if (op.type !== 'put' && op.type !== 'del') throw new InvalidQueryError(`kv batch: unknown op type ${String((op as any).type)}`)
      }
      await guardWrite(async () => { await sub.batch(ops as any, write) })
    },
    iterate: (range) => iterate(range),
    snapshot () {
      open()
      const snap = db.snapshot()
      return {
        async get (key) { return await sub.get(checkKey(key), { snapshot: snap } as any) },
        async getMany (keys) { return await sub.getMany(keys.map(checkKey), { snapshot: snap } as any) },
        iterate: (range) => iterate(range, snap),
        async close () { await snap.close() }
      }
    }
  }
}
