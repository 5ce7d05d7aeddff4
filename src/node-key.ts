import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { base58btc } from 'multiformats/bases/base58'

/**
 * The node's identity key, the same Ed25519 key its libp2p peer id comes
 * from (`<dataDir>/network/peer.key`, libp2p's protobuf: type 1, 64 bytes of
 * seed then public key; derived from `network.seed` on a devnet), read and
 * made with node:crypto so a store with the network off does not load
 * libp2p for it. The one place that makes it: libp2p reads the file this
 * writes (replication/keys.ts), `chainstore id` reads its peer id, and audit
 * events are signed with it, so anyone who knows the peer id can check them.
 */
export interface NodeKey { privateKey: KeyObject, publicKey: KeyObject, peerId: string }

/** 32 bytes derived from a devnet seed for one purpose (`libp2p`, `orbitdb`). */
export function seedBytes (seed: string, purpose: string): Uint8Array {
  return createHash('sha256').update(`chainstore/${purpose}/${seed}`).digest()
}

/** Where the node key is kept: libp2p's protobuf, beside the network's other state. */
export function nodeKeyFile (dataDir: string): string {
  return join(dataDir, 'network', 'peer.key')
}

/** PKCS#8 DER of an Ed25519 private key, before its 32-byte seed (RFC 8410). */
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex')
/** libp2p's protobuf PrivateKey of an Ed25519 key: type 1, then 64 bytes. */
const PROTO_HEAD = Buffer.from([0x08, 0x01, 0x12, 0x40])

function fromSeed (seed: Uint8Array): NodeKey {
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, seed]), format: 'der', type: 'pkcs8' })
  const publicKey = createPublicKey(privateKey)
  return { privateKey, publicKey, peerId: peerIdOf(publicKey) }
}

/** The raw 32 bytes of an Ed25519 public key. */
export function rawPublicKey (publicKey: KeyObject): Uint8Array {
  return new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }).subarray(-32))
}

/** The libp2p peer id of an Ed25519 public key: the identity multihash of its protobuf, base58btc. */
export function peerIdOf (publicKey: KeyObject): string {
  const proto = Buffer.concat([Buffer.from([0x08, 0x01, 0x12, 0x20]), rawPublicKey(publicKey)])
  const multihash = Buffer.concat([Buffer.from([0x00, proto.length]), proto])
  return base58btc.encode(multihash).slice(1)
}

/** Loads the node key (making and keeping one, in libp2p's format, when there is none). */
export async function loadNodeKey (dataDir: string, seed?: string): Promise<NodeKey> {
  if (seed != null) return fromSeed(seedBytes(seed, 'libp2p'))
  const file = nodeKeyFile(dataDir)
  try {
    const bytes = await readFile(file)
    if (bytes.length !== PROTO_HEAD.length + 64 || !bytes.subarray(0, PROTO_HEAD.length).equals(PROTO_HEAD)) throw new Error(`${file} does not hold an Ed25519 key in libp2p's format`)
    return fromSeed(bytes.subarray(PROTO_HEAD.length, PROTO_HEAD.length + 32))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const { privateKey } = generateKeyPairSync('ed25519')
  const seedBytesOf = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(-32)
  const key = fromSeed(seedBytesOf)
  await mkdir(join(dataDir, 'network'), { recursive: true })
  // written whole or not at all (a kill mid-write must not leave a key file the next open refuses);
  // the store's LevelDB lock is held, so no other opener races this one
  const tmp = `${file}.tmp`
  await writeFile(tmp, Buffer.concat([PROTO_HEAD, seedBytesOf, rawPublicKey(key.publicKey)]), { mode: 0o600 })
  await rename(tmp, file)
  return key
}
