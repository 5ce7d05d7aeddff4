import { ECDH, createPublicKey, verify, type KeyObject } from 'node:crypto'
import { sha256Into } from '../codec/cid.ts'
import { RecentDigests, digestOfString } from './recent-digests.ts'

/** SubjectPublicKeyInfo DER prefix of an uncompressed secp256k1 point (id-ecPublicKey, secp256k1). */
const SPKI_PREFIX = Buffer.from('3056301006072a8648ce3d020106052b8104000a034200', 'hex')
/** Half the secp256k1 group order: signatures with a larger `s` are the malleable twins noble refuses. */
const HALF_ORDER = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n
const keys = new Map<string, KeyObject>()
const MAX_KEYS = 10_000

function keyOf (publicKeyHex: string): KeyObject {
  let key = keys.get(publicKeyHex)
  if (key == null) {
    const point = ECDH.convertKey(Buffer.from(publicKeyHex, 'hex'), 'secp256k1', undefined, undefined, 'uncompressed') as Buffer
    key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, point]), format: 'der', type: 'spki' })
    if (keys.size >= MAX_KEYS) keys.delete(keys.keys().next().value!)
    keys.set(publicKeyHex, key)
  }
  return key
}

/** The `s` of a DER ECDSA signature, or undefined when the encoding is not strict DER. */
function derS (sig: Buffer): bigint | undefined {
  if (sig.length < 8 || sig[0] !== 0x30 || sig[1] !== sig.length - 2 || sig[2] !== 0x02) return undefined
  const rLen = sig[3]
  const sAt = 4 + rLen
  if (sig[sAt] !== 0x02) return undefined
  const sLen = sig[sAt + 1]
  if (sAt + 2 + sLen !== sig.length) return undefined
  return BigInt('0x' + sig.subarray(sAt + 2).toString('hex'))
}

/**
 * OrbitDB's signature check (hex DER secp256k1 signature over sha-256 of the
 * data, hex compressed public key) with Node's native crypto instead of
 * @noble/curves in JavaScript, which cost ~5 ms per entry and bounded how fast
 * a joining peer folds the chain log (CPU profile of a late joiner). Same
 * answers: low-S only, as noble requires; anything malformed is false.
 */
export function verifySecp256k1 (signatureHex: string, publicKeyHex: string, data: string | Uint8Array): boolean {
  try {
    if (typeof signatureHex !== 'string' || typeof publicKeyHex !== 'string' || data == null) return false
    const sig = Buffer.from(signatureHex, 'hex')
    const s = derS(sig)
    if (s == null || s === 0n || s > HALF_ORDER) return false
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data
    return verify('sha256', bytes, { key: keyOf(publicKeyHex), dsaEncoding: 'der' }, sig)
  } catch {
    return false
  }
}

/** Valid signatures remembered (CLOCK: one not asked for again goes first), in memory allocated at start (RecentDigests): enough for the repeats of one join. */
const MEMO_ENTRIES = 2_048

/**
 * Remembers signatures found valid, keyed by ONE SHA-256 of the signature,
 * the public key and the exact bytes signed: OrbitDB checks an entry's
 * signature each time the entry reaches a join (from every peer's heads, the
 * log prefetch, anti-entropy) and an identity's signatures for every entry
 * of that identity; a follower ran ~16 checks per distinct signature. A hit
 * needs the same bytes, so a forged entry reusing a signature is checked in
 * full (and fails). Only `true` is remembered.
 */
export class SignatureMemo {
  readonly #valid: RecentDigests
  readonly #scratch = new Uint8Array(32)
  /** Checks run in full, and answers from memory. */
  checked = 0
  hits = 0

  constructor (max = MEMO_ENTRIES) {
    this.#valid = new RecentDigests(max)
  }

  verify (signatureHex: string, publicKeyHex: string, data: string | Uint8Array): boolean {
    if (typeof signatureHex !== 'string' || typeof publicKeyHex !== 'string' || data == null) return false
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data
    // one digest of all three
    const key = this.#scratch
    sha256Into(Buffer.concat([Buffer.from(`${signatureHex}|${publicKeyHex}|`), bytes]), key, 0)
    if (this.#hit(key)) return true
    this.checked++
    const ok = verifySecp256k1(signatureHex, publicKeyHex, bytes)
    if (ok) this.#valid.add(key)
    return ok
  }

  /** True (and counted as a hit) when `key` was remembered as valid. */
  remembered (key: string): boolean {
    return this.#hit(digestOfString(key, this.#scratch))
  }

  remember (key: string): void {
    this.#valid.add(digestOfString(key, this.#scratch))
  }

  #hit (digest: Uint8Array): boolean {
    if (!this.#valid.has(digest)) return false
    this.hits++
    return true
  }
}

/** The fields an OrbitDB identity's validity depends on (its id, key, both signatures, provider type), or null when it has not that shape. */
export function identityMemoKey (identity: any): string | null {
  const s = identity?.signatures
  if (identity == null || typeof identity.id !== 'string' || typeof identity.publicKey !== 'string' || typeof s?.id !== 'string' || typeof s?.publicKey !== 'string') return null
  return `identity|${String(identity.type)}|${identity.id}|${identity.publicKey}|${s.id as string}|${s.publicKey as string}`
}
