import { createRequire } from 'node:module'

/**
 * Keccak-256 (ethereum-cryptography), loaded with the first eth-state-trie
 * node hashed rather than with the package. Its own module, apart from
 * trie-lib.ts: this one is re-exported through the public types, and must
 * not pull @ethereumjs's declarations into a consumer's type check (they
 * need @types/debug).
 */
const require = createRequire(import.meta.url)
let keccak: ((bytes: Uint8Array) => Uint8Array) | undefined

export function keccak256 (bytes: Uint8Array): Uint8Array {
  keccak ??= (require('ethereum-cryptography/keccak.js') as { keccak256: (b: Uint8Array) => Uint8Array }).keccak256
  return keccak(bytes)
}
