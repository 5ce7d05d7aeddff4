import type { BatchDBOp, DB } from '@ethereumjs/util'
import { LRUCache } from 'lru-cache'
import type { CID } from 'multiformats/cid'
import { equals } from 'uint8arrays/equals'
import { stateNodeCid } from '../codec/links.ts'
import { readableLinks, walkDag } from '../codec/walk.ts'
import { blockKey } from '../storage/keys.ts'
import type { BlocksDb, StoreBatch } from '../storage/level.ts'
import { CorruptStateError, MissingStateNodeError } from './errors.ts'
import { EMPTY_ROOT_HASH, hex } from './keys.ts'

const EMPTY_ROOT_HEX = hex(EMPTY_ROOT_HASH)

/** A trie node: its keccak-256 hash and RLP bytes. */
export interface TrieNodeEntry {
  hash: Uint8Array
  bytes: Uint8Array
}

/**
 * @ethereumjs/trie's DB interface over the blocks sublevel: each node is the
 * IPLD block CIDv1(eth-state-trie, keccak-256) of its RLP.
 *
 * Surprise: the trie writes every node of the path on every put (and never
 * reuses a checkpoint's scratch space for that), so 100 puts without
 * checkpoints wrote 201 nodes, most of them interior nodes of intermediate
 * roots nobody will ask for. Writes therefore land in `pending` only;
 * `collect` picks the pending nodes reachable from the root being committed,
 * and the rest is dropped. Deletes are ignored: nodes are content-addressed and
 * shared between roots, so pruning is GC's job (the trie only deletes with
 * `useNodePruning`, which we leave off).
 */
export class TrieNodeDb implements DB<string, string | Uint8Array> {
  readonly #blocks: BlocksDb
  readonly #pending = new Map<string, Uint8Array>()
  readonly #cache: LRUCache<string, Uint8Array> | undefined

  constructor (blocks: BlocksDb, cacheBytes: number) {
    this.#blocks = blocks
    this.#cache = cacheBytes > 0 ? new LRUCache({ maxSize: cacheBytes, sizeCalculation: v => v.length + 80 }) : undefined
  }

  /** Uncommitted nodes held. */
  get pendingCount (): number { return this.#pending.size }

  // keys arrive as unprefixed hex: the trie's CheckpointDB hex-encodes every key before calling us
  async get (key: string): Promise<Uint8Array | undefined> {
    // the trie looks the empty root up and expects a miss: handed the stored empty node (RLP of "",
    // which we keep as a block so an empty state's root can be fetched) it throws 'Invalid node'
    if (key === EMPTY_ROOT_HEX) return undefined
    return this.#pending.get(key) ?? this.#cache?.get(key) ?? this.#load(key)
  }

  async put (key: string, value: string | Uint8Array): Promise<void> {
    this.#pending.set(key, asBytes(value))
  }

  async del (_key: string): Promise<void> {}

  async batch (ops: Array<BatchDBOp<string, string | Uint8Array>>): Promise<void> {
    // synchronous on purpose: the trie sets its new root just before awaiting this batch,
    // so the nodes must be visible by the time another call can run
    for (const op of ops) if (op.type === 'put') this.#pending.set(op.key, asBytes(op.value))
  }

  shallowCopy (): TrieNodeDb { return this }

  async open (): Promise<void> {}

  /** A node's bytes by hash, from pending writes, the cache or the store; MissingStateNodeError when absent. */
  async node (hash: Uint8Array): Promise<Uint8Array> {
    const bytes = await this.get(hex(hash))
    if (bytes == null) throw new MissingStateNodeError(`state trie node ${stateNodeCid(hash).toString()} is not in the store`)
    return bytes
  }

  /**
   * The pending nodes reachable from `root`, parents first. A reference to a
   * node that is not pending points into an already stored subtree, which is
   * complete (it was committed whole), so the walk stops there.
   */
  async collect (root: Uint8Array): Promise<TrieNodeEntry[]> {
    const out: TrieNodeEntry[] = []
    if (equals(root, EMPTY_ROOT_HASH)) return out
    const load = (cid: CID): Uint8Array | undefined => this.#pending.get(hex(cid.multihash.digest))
    const links = (cid: CID, bytes: Uint8Array): CID[] => {
      try {
        return readableLinks(cid, bytes)
      } catch (err) {
        throw new CorruptStateError(`state trie node ${hex(cid.multihash.digest)} written by the trie does not decode`, { cause: err })
      }
    }
    for await (const { cid, bytes } of walkDag(stateNodeCid(root), load, { reportMissing: true, links })) {
      if (bytes != null) out.push({ hash: cid.multihash.digest, bytes })
    }
    return out
  }

  /** Puts collected nodes into a batch as blocks. */
  static addToBatch (batch: StoreBatch, nodes: TrieNodeEntry[]): number {
    let bytes = 0
    for (const n of nodes) { batch.putBlock(stateNodeCid(n.hash), n.bytes); bytes += n.bytes.length }
    return bytes
  }

  /** After a commit's batch was written: the written nodes move to the cache, the rest of pending is dropped. */
  settle (written: TrieNodeEntry[]): void {
    if (this.#cache != null) for (const n of written) this.#cache.set(hex(n.hash), n.bytes)
    this.#pending.clear()
  }

  /** Drops uncommitted nodes (rollback, discard). Cached nodes stay: content-addressed, they never go stale. */
  discardPending (): void {
    this.#pending.clear()
  }

  async #load (key: string): Promise<Uint8Array | undefined> {
    const cid = stateNodeCid(Uint8Array.from(Buffer.from(key, 'hex')))
    const bytes = await this.#blocks.get(blockKey(cid))
    if (bytes == null) return undefined
    this.#cache?.set(key, bytes)
    return bytes
  }
}

function asBytes (v: string | Uint8Array | undefined): Uint8Array {
  if (v instanceof Uint8Array) return v
  // only reached if a trie were built with string value encoding; ours is `Bytes`
  return Uint8Array.from(Buffer.from(String(v), 'hex'))
}
