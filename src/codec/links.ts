import * as dagCbor from '@ipld/dag-cbor'
import * as dagPb from '@ipld/dag-pb'
import type { EmbeddedNode, TrieNode } from '@ethereumjs/trie'
import { trieLib } from './trie-lib.ts'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { DAG_CBOR, KECCAK_256, RAW } from './cid.ts'

export { KECCAK_256 }

/** Deepest nesting followed inside a dag-cbor value. */
const MAX_DEPTH = 64

/** Multicodec of an Ethereum state trie node (RLP of a Merkle Patricia Trie node). */
export const ETH_STATE_TRIE = 0x96
/** RLP of the empty string: the one "node" of an empty trie (its keccak is the empty root). */
const EMPTY_TRIE_NODE = 0x80

/** The CID of a state trie node from its 32-byte keccak-256 hash. */
export function stateNodeCid (hash: Uint8Array): CID {
  return CID.createV1(ETH_STATE_TRIE, Digest.create(KECCAK_256, hash))
}

/**
 * The CIDs a block links to, in encoded order: dag-cbor (every CID in the
 * value), dag-pb (its Links), eth-state-trie (the hashed children of a branch
 * or extension node, inlined children walked in place), raw (none).
 * `undefined` for a codec whose links cannot be read here. Throws when the
 * bytes do not decode.
 */
export function linksOf (cid: CID, bytes: Uint8Array): CID[] | undefined {
  if (cid.code === RAW) return []
  if (cid.code === dagPb.code) return dagPb.decode(bytes).Links.map(l => l.Hash)
  if (cid.code === DAG_CBOR) {
    const out: CID[] = []
    const visit = (v: unknown, depth: number): void => {
      if (depth > MAX_DEPTH || v == null || typeof v !== 'object' || v instanceof Uint8Array) return
      const c = CID.asCID(v)
      if (c != null) { out.push(c); return }
      for (const x of Array.isArray(v) ? v : Object.values(v)) visit(x, depth + 1)
    }
    visit(dagCbor.decode(bytes), 0)
    return out
  }
  if (cid.code === ETH_STATE_TRIE) return stateTrieLinks(bytes)
  return undefined
}

/** Children of a trie node: 32-byte references are hashes of stored nodes; shorter nodes sit inline in their parent. */
function stateTrieLinks (bytes: Uint8Array): CID[] {
  if (bytes.length === 1 && bytes[0] === EMPTY_TRIE_NODE) return []
  const { BranchNode, ExtensionNode, decodeNode, decodeRawNode, isRawNode } = trieLib()
  const out: CID[] = []
  const child = (ref: EmbeddedNode | null, depth: number): void => {
    if (ref == null || ref.length === 0) return
    if (isRawNode(ref)) {
      // an inlined node encodes to < 32 bytes, so it cannot hold a hash; walked anyway so the rule holds for any input
      if (depth > MAX_DEPTH) throw new Error('eth-state-trie node nested too deep')
      visit(decodeRawNode(ref), depth + 1)
    } else if (ref.length === 32) {
      out.push(stateNodeCid(ref))
    } else {
      throw new Error(`eth-state-trie child reference of ${ref.length} bytes (expected a 32-byte hash or an inline node)`)
    }
  }
  const visit = (node: TrieNode, depth: number): void => {
    if (node instanceof BranchNode) {
      for (const [, ref] of node.getChildren()) child(ref, depth)
    } else if (node instanceof ExtensionNode) {
      // the library types an extension's child as bytes, but an inlined child decodes as a raw list
      child(node.value() as EmbeddedNode, depth)
    }
  }
  visit(decodeNode(bytes), 0)
  return out
}
