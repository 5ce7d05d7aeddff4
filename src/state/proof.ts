import { trieLib } from '../codec/trie-lib.ts'
import { CID } from 'multiformats/cid'
import { equals } from 'uint8arrays/equals'
import { describe } from '../codec/cid.ts'
import { checkKey, decodeAccount } from './account.ts'
import { InvalidProofError } from './errors.ts'
import { EMPTY_ROOT_HASH, isStateNodeCid } from './keys.ts'
import type { AccountState } from './types.ts'

/** The 32-byte keccak root of a state root given as a CID (eth-state-trie, keccak-256) or as the hash itself. */
export function rootHashOf (root: CID | Uint8Array): Uint8Array {
  if (root instanceof Uint8Array && !(root instanceof CID)) {
    if (root.length !== 32) throw new InvalidProofError(`state root: expected 32 bytes, got ${root.length}`)
    return root
  }
  const cid = CID.asCID(root)
  if (cid == null || !isStateNodeCid(cid)) throw new InvalidProofError(`state root: expected an eth-state-trie keccak-256 CID, got ${describe(root)}`)
  return cid.multihash.digest
}

/**
 * Verifies a proof of `key` under `root`: the proven account, or undefined
 * when the proof shows the key is absent. InvalidProofError when the nodes do
 * not lead from that root to that key.
 *
 * Surprises in @ethereumjs/trie 6.2:
 * - the static `Trie.verifyProof(key, proof, opts)` takes no root and never
 *   checks one (`opts.root` is overwritten by the hash of the first node), so
 *   it accepted a proof against an all-zero root in our test; the instance
 *   method `verifyProof(root, key, proof)` is the one that checks the root.
 * - an empty trie's absence proof is `[]`, which its own verifier rejects
 *   ("Invalid proof provided"), so the empty root is handled here.
 */
export async function verifyProof (root: CID | Uint8Array, key: Uint8Array, proof: Uint8Array[]): Promise<AccountState | undefined> {
  checkKey(key)
  const rootHash = rootHashOf(root)
  if (!Array.isArray(proof) || !proof.every(n => n instanceof Uint8Array)) throw new InvalidProofError('proof: expected an array of byte arrays (RLP trie nodes)')
  if (equals(rootHash, EMPTY_ROOT_HASH)) {
    if (proof.length === 0) return undefined
    throw new InvalidProofError('proof: the empty state root has no nodes to prove with')
  }
  let value: Uint8Array | null
  try {
    // an in-memory trie (MapDB) for the proof's nodes alone; nothing touches the store
    value = await new (trieLib().Trie)().verifyProof(rootHash, key, proof)
  } catch (err) {
    throw new InvalidProofError(`proof does not lead from root ${Buffer.from(rootHash).toString('hex')} to key ${Buffer.from(key).toString('hex')}: ${(err as Error).message}`, { cause: err })
  }
  if (value == null) return undefined
  try {
    return decodeAccount(value)
  } catch (err) {
    throw new InvalidProofError('proof leads to a value that is not an account record', { cause: err })
  }
}
