import { describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { SignatureMemo, identityMemoKey, verifySecp256k1 } from '../src/replication/verify.ts'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n

/** The high-S twin of a DER signature: same r, s' = n - s (valid ECDSA, refused by noble). */
function highS (sig: Uint8Array): Uint8Array {
  const b = Buffer.from(sig)
  const rLen = b[3]
  const r = b.subarray(4, 4 + rLen)
  const s = BigInt('0x' + b.subarray(6 + rLen).toString('hex'))
  let sHex = (N - s).toString(16)
  if (sHex.length % 2 === 1) sHex = '0' + sHex
  let sBytes = Buffer.from(sHex, 'hex')
  if (sBytes[0] >= 0x80) sBytes = Buffer.concat([Buffer.of(0), sBytes])
  const body = Buffer.concat([Buffer.of(0x02, r.length), r, Buffer.of(0x02, sBytes.length), sBytes])
  return Buffer.concat([Buffer.of(0x30, body.length), body])
}

describe('native secp256k1 verification of OrbitDB signatures', () => {
  it('agrees with @libp2p/crypto on valid, tampered, foreign-key, high-S and malformed signatures', async () => {
    for (let i = 0; i < 20; i++) {
      const key = await generateKeyPair('secp256k1')
      const other = await generateKeyPair('secp256k1')
      const data = new TextEncoder().encode(`entry ${i} ${'x'.repeat(i * 7)}`)
      const sig = await key.sign(data)
      const pub = hex(key.publicKey.raw)
      expect(verifySecp256k1(hex(sig), pub, data)).toBe(true)
      expect(verifySecp256k1(hex(sig), pub, new TextDecoder().decode(data))).toBe(true) // strings are utf-8
      const tampered = Uint8Array.from(data); tampered[0] ^= 1
      expect(verifySecp256k1(hex(sig), pub, tampered)).toBe(await key.publicKey.verify(tampered, sig))
      expect(verifySecp256k1(hex(sig), hex(other.publicKey.raw), data)).toBe(false)
      const twin = highS(sig)
      expect(await key.publicKey.verify(data, twin)).toBe(false)
      expect(verifySecp256k1(hex(twin), pub, data)).toBe(false)
      expect(verifySecp256k1(hex(sig).slice(0, 20), pub, data)).toBe(false)
      expect(verifySecp256k1('zz', pub, data)).toBe(false)
      expect(verifySecp256k1(hex(sig), '02' + 'ff'.repeat(32), data)).toBe(false)
    }
  })
})

describe('remembered signature checks', () => {
  it('a valid signature is checked once; the same signature over other bytes, or under another key, is checked in full and refused; the memory is bounded', async () => {
    const memo = new SignatureMemo(2)
    const key = await generateKeyPair('secp256k1')
    const data = new TextEncoder().encode('entry 1')
    const sig = hex(await key.sign(data))
    const pub = hex(key.publicKey.raw)
    for (let i = 0; i < 16; i++) expect(memo.verify(sig, pub, data)).toBe(true)
    expect([memo.checked, memo.hits]).toEqual([1, 15])
    // a forged entry reusing the signature: other bytes, full check, false, and never remembered
    const forged = new TextEncoder().encode('entry 2')
    expect(memo.verify(sig, pub, forged)).toBe(false)
    expect(memo.verify(sig, pub, forged)).toBe(false)
    expect(memo.verify(sig, hex((await generateKeyPair('secp256k1')).publicKey.raw), data)).toBe(false)
    expect(memo.checked).toBe(4)
    // strings are the utf-8 bytes they stand for: the same entry
    expect(memo.verify(sig, pub, 'entry 1')).toBe(true)
    expect(memo.hits).toBe(16)
    // bounded, CLOCK: two more valid signatures fill it; the first, asked for again, keeps its place and the one never asked for again goes
    const others: Array<{ sig: string, d: Uint8Array }> = []
    for (const text of ['a', 'b']) {
      const d = new TextEncoder().encode(text)
      others.push({ sig: hex(await key.sign(d)), d })
      expect(memo.verify(others[others.length - 1].sig, pub, d)).toBe(true)
    }
    const before = memo.checked
    expect(memo.verify(sig, pub, data)).toBe(true)
    expect(memo.checked).toBe(before)
    expect(memo.verify(others[0].sig, pub, others[0].d)).toBe(true)
    expect(memo.checked).toBe(before + 1)
  })

  it('an identity is remembered by every field its validity depends on', () => {
    const identity = { id: 'aa', publicKey: 'bb', signatures: { id: 'cc', publicKey: 'dd' }, type: 'publickey' }
    const key = identityMemoKey(identity)
    expect(key).not.toBeNull()
    for (const changed of [{ ...identity, id: 'ab' }, { ...identity, publicKey: 'bc' }, { ...identity, type: 'other' }, { ...identity, signatures: { id: 'cd', publicKey: 'dd' } }, { ...identity, signatures: { id: 'cc', publicKey: 'de' } }]) {
      expect(identityMemoKey(changed)).not.toBe(key)
    }
    expect(identityMemoKey({ id: 'aa' })).toBeNull()
  })
})
