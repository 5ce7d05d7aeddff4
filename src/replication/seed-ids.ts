import { createRequire } from 'node:module'

import { seedBytes } from '../node-key.ts'

const require = createRequire(import.meta.url)

/**
 * Ids a devnet seed gives, without loading libp2p: the package root exports
 * these, and a store with the network off should not pay for @libp2p/crypto
 * at import. The peer id needs libp2p's key types, so it loads them on call.
 */

export { seedBytes } from '../node-key.ts'

/** The OrbitDB identity id (hex compressed secp256k1 public key) a seed gives: what `network.writers` lists. */
export function identityIdFromSeed (seed: string): string {
  // secp256k1 loads with the first id asked for, not with the package
  const { secp256k1 } = require('ethereum-cryptography/secp256k1.js') as typeof import('ethereum-cryptography/secp256k1.js')
  return Buffer.from(secp256k1.getPublicKey(seedBytes(seed, 'orbitdb'), true)).toString('hex')
}

/** The libp2p peer id a seed gives: what `network.replicas` lists. */
export async function peerIdFromSeed (seed: string): Promise<string> {
  const [{ generateKeyPairFromSeed }, { peerIdFromPrivateKey }] = await Promise.all([import('@libp2p/crypto/keys'), import('@libp2p/peer-id')])
  return peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', seedBytes(seed, 'libp2p'))).toString()
}
