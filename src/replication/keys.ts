import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, generateKeyPairFromSeed, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'

import { NETWORK_DIR } from './constants.ts'
import { seedBytes } from './seed-ids.ts'

export { NETWORK_DIR }
/** Name of the OrbitDB identity key in its keystore. */
export const IDENTITY_KEY_NAME = 'chainstore'

export { identityIdFromSeed, peerIdFromSeed } from './seed-ids.ts'

/**
 * The node's libp2p key: derived from the devnet seed when there is one,
 * otherwise generated once and kept in `<dataDir>/network/peer.key` so the
 * peer id survives restarts (replica sets name peers by id).
 */
export async function loadPeerKey (dataDir: string, seed?: string): Promise<PrivateKey> {
  if (seed != null) return await generateKeyPairFromSeed('Ed25519', seedBytes(seed, 'libp2p'))
  const dir = join(dataDir, NETWORK_DIR)
  const file = join(dir, 'peer.key')
  try {
    return privateKeyFromProtobuf(await readFile(file))
  } catch (err: any) {
    if (err.code !== 'ENOENT') throw err
  }
  await mkdir(dir, { recursive: true })
  const key = await generateKeyPair('Ed25519')
  await writeFile(file, privateKeyToProtobuf(key), { mode: 0o600 })
  return key
}

/** Raw secp256k1 private key of the OrbitDB identity derived from a seed. */
export function identityKeyFromSeed (seed: string): Uint8Array {
  return seedBytes(seed, 'orbitdb')
}


