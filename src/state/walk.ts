import type { EmbeddedNode, TrieNode } from '@ethereumjs/trie'
import { trieLib } from '../codec/trie-lib.ts'
import type { CID } from 'multiformats/cid'
import { equals } from 'uint8arrays/equals'
import { stateNodeCid } from '../codec/links.ts'
import { readableLinks, walkDag } from '../codec/walk.ts'
import { STATE_KEY_BYTES } from './constants.ts'
import { CorruptStateError } from './errors.ts'
import { EMPTY_ROOT_HASH, hex } from './keys.ts'

/** Reads a node's RLP by hash; throws MissingStateNodeError when absent. */
export type NodeReader = (hash: Uint8Array) => Promise<Uint8Array>

/**
 * Every (key, value) under a root, in key order. Our own walk rather than the
 * trie's walkAllValueNodes: that one (util/asyncWalk.ts) catches every error
 * and returns, so a missing node silently truncates the listing, which would
 * rebuild a flat layer with accounts missing. This one throws.
 */
export async function * walkLeaves (read: NodeReader, root: Uint8Array): AsyncGenerator<[Uint8Array, Uint8Array]> {
  if (equals(root, EMPTY_ROOT_HASH)) return
  const { LeafNode, ExtensionNode } = trieLib()
  const stack: Array<{ ref: EmbeddedNode, path: number[] }> = [{ ref: root, path: [] }]
  while (stack.length > 0) {
    const { ref, path } = stack.pop()!
    const node = await load(read, ref)
    if (node instanceof LeafNode) {
      yield [toKey(path.concat(node.key())), node.value()]
    } else if (node instanceof ExtensionNode) {
      stack.push({ ref: node.value() as EmbeddedNode, path: path.concat(node.key()) })
    } else {
      const value = node.value()
      if (value != null) yield [toKey(path), value]
      // pushed high nibble first so the lowest pops first: key order
      for (const [nibble, child] of node.getChildren().reverse()) stack.push({ ref: child, path: [...path, nibble] })
    }
  }
}

/** Every stored node under a root (hashed nodes only; inlined ones travel inside their parents), parents first. */
export async function * walkNodes (read: NodeReader, root: Uint8Array, options: { signal?: AbortSignal } = {}): AsyncGenerator<{ cid: CID, bytes: Uint8Array }> {
  const load = async (cid: CID): Promise<Uint8Array> => await read(cid.multihash.digest)
  for await (const { cid, bytes } of walkDag(stateNodeCid(root), load, { links: trieLinks, signal: options.signal })) yield { cid, bytes: bytes! }
}

/** A trie node's hashed children; CorruptStateError when it does not decode. */
export function trieLinks (cid: CID, bytes: Uint8Array): CID[] {
  try {
    return readableLinks(cid, bytes)
  } catch (err) {
    throw new CorruptStateError(`state trie node ${cid.toString()} does not decode`, { cause: err })
  }
}

async function load (read: NodeReader, ref: EmbeddedNode): Promise<TrieNode> {
  const { decodeNode, decodeRawNode, isRawNode } = trieLib()
  try {
    if (isRawNode(ref)) return decodeRawNode(ref)
    return decodeNode(await read(ref))
  } catch (err) {
    if (err instanceof Error && err.name !== 'Error') throw err
    throw new CorruptStateError(`state trie node ${isRawNode(ref) ? '(inline)' : hex(ref)} does not decode`, { cause: err })
  }
}

function toKey (nibbles: number[]): Uint8Array {
  if (nibbles.length !== STATE_KEY_BYTES * 2) throw new CorruptStateError(`state trie holds a key of ${nibbles.length} nibbles (expected ${STATE_KEY_BYTES * 2})`)
  const out = new Uint8Array(STATE_KEY_BYTES)
  for (let i = 0; i < out.length; i++) out[i] = (nibbles[2 * i] << 4) | nibbles[2 * i + 1]
  return out
}
