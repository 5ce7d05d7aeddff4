import type { Trie } from '@ethereumjs/trie'
import { ethUtilLib, trieLib } from '../codec/trie-lib.ts'
import { CID } from 'multiformats/cid'
import { equals } from 'uint8arrays/equals'
import { stateNodeCid } from '../codec/links.ts'
import type { Logger } from '../logger.ts'
import { PREFIX, prefixRange } from '../storage/keys.ts'
import { startBatch, type BlocksDb, type RootDb } from '../storage/level.ts'
import { OpenGuard } from '../storage/guard.ts'
import type { AbortOptions } from '../storage/types.ts'
import { checkKey, decodeAccount, encodeAccount } from './account.ts'
import { DEFAULT_NODE_CACHE_BYTES, FLAT_REBUILD_BATCH } from './constants.ts'
import { CorruptStateError, InvalidStateHeightError, StateClosedError, StateConflictError, UnknownStateHeightError } from './errors.ts'
import { EMPTY_ROOT_CID, EMPTY_ROOT_HASH, EMPTY_TRIE_NODE, FLAT_META_KEY, flatKey, heightOfRootKey, hex, isStateNodeCid, stateRootKey } from './keys.ts'
import { TrieNodeDb } from './node-db.ts'
import { rootHashOf, verifyProof } from './proof.ts'
import type { AccountState, CommitHook, CommitResult, DroppedRoot, RollbackHook, StateHead, StateProof, StateStoreInit } from './types.ts'
import { walkLeaves, walkNodes } from './walk.ts'

/**
 * Account and validator state in a Merkle Patricia Trie (@ethereumjs/trie)
 * whose nodes are IPLD blocks in the store, with a root recorded per height,
 * a flat current-state layer for head reads, rollback and proofs.
 *
 * Writes (put, delete, commit, rollback) run one at a time; reads never wait.
 * Uncommitted puts and deletes are visible to `get` and `root()`, and reach
 * LevelDB only in `commit`, in one batch with the new nodes, the height's
 * root and the flat layer's changes.
 */
export class StateStore {
  readonly #db: RootDb
  readonly #blocks: BlocksDb
  readonly #sync: boolean
  readonly #log: Logger
  readonly #hooks: StateStoreInit['hooks']
  readonly #nodes: TrieNodeDb
  /** The working trie, made on first use (loading @ethereumjs/trie then, not when the store opens). */
  #working: Trie | undefined
  #head: StateHead | undefined
  /** Uncommitted changes by key hex: encoded record, or null for a delete. */
  readonly #overlay = new Map<string, { key: Uint8Array, value: Uint8Array | null }>()
  /** The flat layer mirrors the committed head (false while it is rebuilt). */
  #flatFresh = false
  readonly #guard = new OpenGuard(() => new StateClosedError('the state store is closed'))

  private constructor (init: StateStoreInit) {
    this.#db = init.db
    this.#blocks = init.blocks
    this.#sync = init.sync
    this.#log = init.logger.child({ room: 'state' })
    this.#hooks = init.hooks
    this.#nodes = new TrieNodeDb(init.blocks, init.nodeCacheBytes ?? DEFAULT_NODE_CACHE_BYTES)
  }

  /** The working trie at the head (or the root a write moved it to). */
  get #trie (): Trie {
    this.#working ??= this.#newTrie(this.#head?.root.multihash.digest)
    return this.#working
  }

  #newTrie (root?: Uint8Array): Trie {
    // valueEncoding Bytes: the default (String) makes CheckpointDB hex-encode every node value on the way to us
    return new (trieLib().Trie)({ db: this.#nodes, valueEncoding: ethUtilLib().ValueEncoding.Bytes, ...(root != null ? { root } : {}) })
  }

  /** Opens the state kept in a node's LevelDB; rebuilds the flat layer when it does not mirror the head. */
  static async open (init: StateStoreInit, options: AbortOptions = {}): Promise<StateStore> {
    const state = new StateStore(init)
    state.#head = await state.#readHead()
    const flatRoot = await init.db.get(FLAT_META_KEY)
    const headHash = state.#head?.root.multihash.digest ?? EMPTY_ROOT_HASH
    if (flatRoot != null && equals(flatRoot, headHash)) {
      state.#flatFresh = true
    } else {
      state.#log.info({ height: state.#head?.height, flatRoot: flatRoot == null ? null : hex(flatRoot) }, 'flat state layer is stale or missing: rebuilding from the trie')
      await state.#rebuildFlat(options)
    }
    return state
  }

  /** The LevelDB and blocks sublevel the state lives in (for snapshot imports, which write verified nodes directly). */
  get storage (): { db: RootDb, blocks: BlocksDb } {
    return { db: this.#db, blocks: this.#blocks }
  }

  /** The committed head: the last height and its root; undefined before the first commit. */
  head (): StateHead | undefined {
    return this.#head
  }

  /** The working root: the committed head's with the uncommitted changes applied (what `commit` would record). */
  root (): CID {
    return stateNodeCid(this.#trie.root())
  }

  /** Number of keys changed since the last commit. */
  get pendingChanges (): number {
    return this.#overlay.size
  }

  /** True while the flat layer mirrors the head (false during a rebuild: reads then walk the trie). */
  get flatFresh (): boolean {
    return this.#flatFresh
  }

  /** An account at the working head: uncommitted changes, then the flat layer, then (while it rebuilds) the trie. */
  async get (key: Uint8Array): Promise<AccountState | undefined> {
    this.#open()
    checkKey(key)
    const pending = this.#overlay.size === 0 ? undefined : this.#overlay.get(hex(key))
    if (pending != null) return pending.value == null ? undefined : decodeAccount(pending.value)
    if (this.#flatFresh) {
      // getSync: one LevelDB lookup, ~5x the throughput of the async get (see bench/state.ts); same as the store's hot reads
      const bytes = this.#db.getSync(flatKey(key))
      // the rebuild may have started while we read: only a fresh layer's miss means absent
      if (bytes != null) return decodeAccount(bytes)
      if (this.#flatFresh) return undefined
    }
    return await this.getFromTrie(key)
  }

  /** An account read by walking the trie: at the working root, or at a recorded height's root. */
  async getFromTrie (key: Uint8Array, options: { height?: number } = {}): Promise<AccountState | undefined> {
    this.#open()
    checkKey(key)
    const trie = options.height == null ? this.#trie : this.#trieAt(await this.#rootOrThrow(options.height))
    if (equals(trie.root(), EMPTY_ROOT_HASH)) return undefined
    // throwIfMissing: without it a missing node reads as "no such key" (findPath swallows 'Missing node in DB')
    const bytes = await trie.get(key, true)
    return bytes == null ? undefined : decodeAccount(bytes)
  }

  /** Sets an account; visible to `get` at once, written by the next `commit`. */
  async put (key: Uint8Array, account: AccountState, options: AbortOptions = {}): Promise<void> {
    checkKey(key)
    const value = encodeAccount(account)
    await this.#serial(options, async () => {
      await this.#trie.put(key, value)
      this.#overlay.set(hex(key), { key: Uint8Array.from(key), value })
    })
  }

  /** Removes an account; visible to `get` at once, written by the next `commit`. */
  async delete (key: Uint8Array, options: AbortOptions = {}): Promise<void> {
    checkKey(key)
    await this.#serial(options, async () => {
      await this.#trie.del(key)
      this.#overlay.set(hex(key), { key: Uint8Array.from(key), value: null })
    })
  }

  /** Drops the uncommitted changes: the working root goes back to the head's. */
  async discard (options: AbortOptions = {}): Promise<void> {
    await this.#serial(options, async () => { this.#resetWorking() })
  }

  /**
   * Records the working root at `height` (above the head) in one LevelDB
   * batch with the new trie nodes and the flat layer's changes; `onCommit`
   * adds its own entries (the store's pin of the root) to the same batch.
   */
  async commit (height: number, options: AbortOptions & { onCommit?: CommitHook } = {}): Promise<CommitResult> {
    checkHeight(height)
    return await this.#serial(options, async () => {
      if (this.#head != null && height <= this.#head.height) throw new InvalidStateHeightError(`commit at height ${height}: the state head is already at ${this.#head.height}`)
      const rootHash = Uint8Array.from(this.#trie.root())
      const root = stateNodeCid(rootHash)
      const batch = startBatch(this.#db, this.#blocks)
      const nodes = await this.#nodes.collect(rootHash)
      let bytes = TrieNodeDb.addToBatch(batch, nodes)
      // the empty root is a real block (RLP of ""), so even an empty state's root can be fetched and pinned
      if (equals(rootHash, EMPTY_ROOT_HASH)) { batch.putBlock(EMPTY_ROOT_CID, EMPTY_TRIE_NODE); bytes += 1 }
      batch.put(stateRootKey(height), root.bytes)
      // open and rollback rebuild the layer before any write runs; only a failed rebuild leaves it stale,
      // and then it stays marked stale (no meta) so the next open rebuilds it
      if (this.#flatFresh) {
        for (const { key, value } of this.#overlay.values()) {
          if (value == null) batch.del(flatKey(key))
          else batch.put(flatKey(key), value)
        }
        batch.put(FLAT_META_KEY, rootHash)
      }
      await this.#hooks?.commit?.(batch, root, height)
      await options.onCommit?.(batch, root, height)
      await batch.write(this.#sync)
      this.#nodes.settle(nodes)
      const changes = this.#overlay.size
      this.#overlay.clear()
      this.#head = { height, root }
      this.#log.debug({ height, root: root.toString(), nodes: nodes.length, bytes, changes }, 'state committed')
      return { height, root, nodes: nodes.length, bytes, changes }
    })
  }

  /** The root recorded at a height, if any. */
  async rootAt (height: number): Promise<CID | undefined> {
    this.#open()
    checkHeight(height)
    const bytes = await this.#db.get(stateRootKey(height))
    return bytes == null ? undefined : decodeRoot(bytes, height)
  }

  /** Every recorded (height, root), lowest height first. */
  async * roots (options: AbortOptions & { gte?: number, lte?: number } = {}): AsyncGenerator<StateHead> {
    this.#open()
    const range = { gte: stateRootKey(options.gte ?? 0), ...(options.lte != null ? { lte: stateRootKey(options.lte) } : { lt: Uint8Array.of(PREFIX.STATE_ROOT + 1) }) }
    for await (const [key, value] of this.#db.iterator(range)) {
      options.signal?.throwIfAborted()
      const height = heightOfRootKey(key)
      yield { height, root: decodeRoot(value, height) }
    }
  }

  /**
   * Goes back to the root recorded at `height`: drops the roots above it
   * (with `onRollback` adding the caller's entries to that batch), discards
   * uncommitted changes and rebuilds the flat layer from the trie.
   */
  async rollback (height: number, options: AbortOptions & { onRollback?: RollbackHook } = {}): Promise<CID> {
    checkHeight(height)
    return await this.#serial(options, async () => {
      const root = await this.#rootOrThrow(height)
      const dropped: DroppedRoot[] = []
      for await (const r of this.roots({ gte: height + 1 })) dropped.push({ ...r, stillRecorded: false })
      if (dropped.length > 0) {
        const kept = new Set<string>()
        const droppedKeys = new Set(dropped.map(d => d.root.toString()))
        for await (const r of this.roots({ lte: height, signal: options.signal })) if (droppedKeys.has(r.root.toString())) kept.add(r.root.toString())
        for (const d of dropped) d.stillRecorded = kept.has(d.root.toString())
      }
      const batch = startBatch(this.#db, this.#blocks)
      for (const d of dropped) batch.del(stateRootKey(d.height))
      // stale until the rebuild completes: a crash in between rebuilds again at open
      batch.del(FLAT_META_KEY)
      await this.#hooks?.rollback?.(batch, dropped)
      await options.onRollback?.(batch, dropped)
      await this.#writeMarkingStale(batch)
      this.#head = { height, root }
      this.#resetWorking()
      this.#log.info({ height, root: root.toString(), dropped: dropped.length }, 'state rolled back')
      await this.#rebuildFlat(options)
      return root
    })
  }

  /**
   * Adopts a root whose nodes are already in the store (a verified snapshot)
   * as the head at `height`: the state must have no uncommitted changes and
   * no root at or above that height.
   */
  async adoptRoot (height: number, root: CID, options: AbortOptions & { onCommit?: CommitHook } = {}): Promise<void> {
    checkHeight(height)
    if (!isStateNodeCid(root)) throw new StateConflictError(`adopt: ${root.toString()} is not an eth-state-trie keccak-256 CID`)
    await this.#serial(options, async () => {
      if (this.#overlay.size > 0) throw new StateConflictError(`adopt: ${this.#overlay.size} uncommitted changes; commit or discard them first`)
      if (this.#head != null && this.#head.height >= height) throw new StateConflictError(`adopt at height ${height}: the state head is already at ${this.#head.height}`)
      if (!equals(root.multihash.digest, EMPTY_ROOT_HASH)) await this.#nodes.node(root.multihash.digest)
      const batch = startBatch(this.#db, this.#blocks)
      if (equals(root.multihash.digest, EMPTY_ROOT_HASH)) batch.putBlock(EMPTY_ROOT_CID, EMPTY_TRIE_NODE)
      batch.put(stateRootKey(height), root.bytes)
      batch.del(FLAT_META_KEY)
      await this.#hooks?.commit?.(batch, root, height)
      await options.onCommit?.(batch, root, height)
      await this.#writeMarkingStale(batch)
      this.#head = { height, root }
      this.#resetWorking()
      await this.#rebuildFlat(options)
    })
  }

  /** A proof of `key` (present or absent) under the committed head's root, or a recorded height's. */
  async prove (key: Uint8Array, options: { height?: number } = {}): Promise<StateProof> {
    this.#open()
    checkKey(key)
    const head = options.height == null ? this.#head : { height: options.height, root: await this.#rootOrThrow(options.height) }
    if (head == null) throw new UnknownStateHeightError('prove: nothing committed yet')
    const hash = head.root.multihash.digest
    // proofs are of committed roots: with uncommitted changes the working trie's root is not the head's
    const trie = this.#overlay.size === 0 && equals(this.#trie.root(), hash) ? this.#trie : this.#trieAt(head.root)
    const nodes = equals(hash, EMPTY_ROOT_HASH) ? [] : await trie.createProof(key)
    const value = await verifyProof(head.root, key, nodes)
    return { root: head.root, height: head.height, key: Uint8Array.from(key), value, nodes }
  }

  /** Verifies a proof against a root; see {@link verifyProof}. */
  static async verifyProof (root: CID | Uint8Array, key: Uint8Array, proof: Uint8Array[]): Promise<AccountState | undefined> {
    return await verifyProof(root, key, proof)
  }

  /** A stored trie node's RLP by CID (eth-state-trie, keccak-256); MissingStateNodeError when absent. */
  async getNode (cid: CID): Promise<Uint8Array> {
    this.#open()
    if (equals(cid.multihash.digest, EMPTY_ROOT_HASH)) return EMPTY_TRIE_NODE
    return await this.#nodes.node(rootHashOf(cid))
  }

  /** Every stored node under a recorded height's root, parents first (what a snapshot holds). */
  async * nodesAt (height: number, options: AbortOptions = {}): AsyncGenerator<{ cid: CID, bytes: Uint8Array }> {
    this.#open()
    const root = await this.#rootOrThrow(height)
    if (equals(root.multihash.digest, EMPTY_ROOT_HASH)) { yield { cid: root, bytes: EMPTY_TRIE_NODE }; return }
    for await (const n of walkNodes(async h => await this.#nodes.node(h), root.multihash.digest, options)) {
      options.signal?.throwIfAborted()
      yield n
    }
  }

  /** Rebuilds the flat layer from the head's trie (also what open and rollback do when it is stale). */
  async rebuildFlat (options: AbortOptions = {}): Promise<number> {
    return await this.#serial(options, async () => {
      this.#flatFresh = false
      await this.#db.del(FLAT_META_KEY)
      return await this.#rebuildFlat(options)
    })
  }

  /** Waits for running writes; further calls throw StateClosedError. The LevelDB stays open (the store owns it). */
  async close (): Promise<void> {
    await this.#guard.close()
  }

  async #rebuildFlat (options: AbortOptions): Promise<number> {
    const started = performance.now()
    const rootHash = this.#head?.root.multihash.digest ?? EMPTY_ROOT_HASH
    await this.#db.clear(prefixRange(Uint8Array.of(PREFIX.STATE_FLAT)))
    let batch = this.#db.batch()
    let entries = 0
    for await (const [key, value] of walkLeaves(async h => await this.#nodes.node(h), rootHash)) {
      options.signal?.throwIfAborted()
      batch.put(flatKey(key), value)
      entries++
      if (batch.length >= FLAT_REBUILD_BATCH) { await batch.write(); batch = this.#db.batch() }
    }
    batch.put(FLAT_META_KEY, rootHash)
    await batch.write({ sync: this.#sync })
    this.#flatFresh = true
    this.#log.info({ entries, ms: Math.round(performance.now() - started) }, 'flat state layer rebuilt')
    return entries
  }

  /** Writes a batch that drops the flat layer's meta; reads leave the layer as soon as the write may land. */
  async #writeMarkingStale (batch: ReturnType<typeof startBatch>): Promise<void> {
    const wasFresh = this.#flatFresh
    this.#flatFresh = false
    try {
      await batch.write(this.#sync)
    } catch (err) {
      this.#flatFresh = wasFresh
      throw err
    }
  }

  #resetWorking (): void {
    this.#overlay.clear()
    this.#nodes.discardPending()
    this.#trie.root(this.#head?.root.multihash.digest ?? EMPTY_ROOT_HASH)
  }

  #trieAt (root: CID): Trie {
    return this.#newTrie(root.multihash.digest)
  }

  async #rootOrThrow (height: number): Promise<CID> {
    const root = await this.rootAt(height)
    if (root == null) throw new UnknownStateHeightError(`no state root recorded at height ${height}`)
    return root
  }

  async #readHead (): Promise<StateHead | undefined> {
    for await (const [key, value] of this.#db.iterator({ ...prefixRange(Uint8Array.of(PREFIX.STATE_ROOT)), reverse: true, limit: 1 })) {
      const height = heightOfRootKey(key)
      return { height, root: decodeRoot(value, height) }
    }
    return undefined
  }

  #open (): void {
    this.#guard.assertOpen()
  }

  async #serial<T> (options: AbortOptions, fn: () => Promise<T>): Promise<T> {
    return await this.#guard.serial(fn, options.signal)
  }
}

function checkHeight (height: number): void {
  if (!Number.isSafeInteger(height) || height < 0) throw new InvalidStateHeightError(`height: expected a non-negative safe integer, got ${String(height)}`)
}

function decodeRoot (bytes: Uint8Array, height: number): CID {
  let cid: CID
  try {
    cid = CID.decode(bytes)
  } catch (err) {
    throw new CorruptStateError(`state root entry at height ${height} does not decode`, { cause: err })
  }
  if (!isStateNodeCid(cid)) throw new CorruptStateError(`state root entry at height ${height} is not an eth-state-trie CID: ${cid.toString()}`)
  return cid
}
