import { keccak256 } from '../codec/keccak.ts'
import type { CID } from 'multiformats/cid'
import { ETH_STATE_TRIE, KECCAK_256, stateNodeCid } from '../codec/links.ts'
import { PREFIX, prefixedKey, readU64, u64Key } from '../storage/keys.ts'
import { CorruptStateError } from './errors.ts'

// keccak-256 comes from ethereum-cryptography, the package @ethereumjs/trie itself hashes with
// (node:crypto has sha3-256, whose padding differs, and OpenSSL's KECCAK-256 is not exposed by Node 24)
export { keccak256 }

/** RLP of the empty string: the single node of an empty trie. */
export const EMPTY_TRIE_NODE = Uint8Array.of(0x80)
/** keccak-256 of the empty trie node: the root of an empty state. */
/** keccak256(EMPTY_TRIE_NODE), written out: hashing it at import would load the hash library with the package (test/state.test.ts checks it). */
export const EMPTY_ROOT_HASH = Uint8Array.from(Buffer.from('56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421', 'hex'))
/** CID of the empty state root. */
export const EMPTY_ROOT_CID = stateNodeCid(EMPTY_ROOT_HASH)

/** True when `cid` names a state trie node (eth-state-trie codec, keccak-256). */
export function isStateNodeCid (cid: CID): boolean {
  return cid.version === 1 && cid.code === ETH_STATE_TRIE && cid.multihash.code === KECCAK_256 && cid.multihash.size === 32
}

/** `STATE_ROOT` key of a height. */
export function stateRootKey (height: number): Uint8Array {
  return u64Key(PREFIX.STATE_ROOT, height)
}

/** Height of a `STATE_ROOT` key. */
export function heightOfRootKey (key: Uint8Array): number {
  if (key.length !== 9 || key[0] !== PREFIX.STATE_ROOT) throw new CorruptStateError(`state root key of ${key.length} bytes`)
  return readU64(key, 1)
}

/** `STATE_FLAT` key of a state key. */
export function flatKey (key: Uint8Array): Uint8Array {
  return prefixedKey(PREFIX.STATE_FLAT, key)
}

/** `STATE_META` key holding the root the flat layer mirrors; absent while the layer is stale. */
export const FLAT_META_KEY = Uint8Array.of(PREFIX.STATE_META, ...new TextEncoder().encode('flat'))

/** Lowercase hex of bytes. */
export function hex (b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex')
}

