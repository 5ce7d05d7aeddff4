import { readFile } from 'node:fs/promises'
import { generateKeyPairFromSeed, privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'

import { NETWORK_DIR } from './constants.ts'
import { loadNodeKey, nodeKeyFile, seedBytes } from '../node-key.ts'

export { NETWORK_DIR }
/** Name of the OrbitDB identity key in its keystore. */
export const IDENTITY_KEY_NAME = 'chainstore'

export { identityIdFromSeed, peerIdFromSeed } from './seed-ids.ts'

/**
 * The node's libp2p key: derived from the devnet seed when there is one,
 * otherwise the node key `<dataDir>/network/peer.key` (made once, written
 * whole, by src/node-key.ts) so the peer id survives restarts (replica sets
 * name peers by id).
 */
export async function loadPeerKey (dataDir: string, seed?: string): Promise<PrivateKey> {
  if (seed != null) return await generateKeyPairFromSeed('Ed25519', seedBytes(seed, 'libp2p'))
  await loadNodeKey(dataDir)
  return privateKeyFromProtobuf(await readFile(nodeKeyFile(dataDir)))
}

/** Raw secp256k1 private key of the OrbitDB identity derived from a seed. */
export function identityKeyFromSeed (seed: string): Uint8Array {
  return seedBytes(seed, 'orbitdb')
}


