const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

/** Lower-case 0x-hex of bytes. */
export function toHex (bytes: Uint8Array): string {
  let out = '0x'
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i]]
  return out
}

/**
 * Bytes of an even-length 0x-hex string, or `undefined` when it is not one.
 * Node's hex decoder stops at the first pair that is not hex, so the decoded
 * length is the whole check; small results are views into Buffer's shared
 * pool (one off-heap slab for many values, ~3× faster than a JS loop).
 */
export function fromHex (hex: string): Uint8Array | undefined {
  const n = hex.length
  if (n < 2 || (n & 1) !== 0 || hex.charCodeAt(0) !== 48 || (hex.charCodeAt(1) | 32) !== 120) return undefined
  const b = Buffer.from(hex.substring(2), 'hex')
  if (b.length !== (n - 2) >> 1) return undefined
  return new Uint8Array(b.buffer, b.byteOffset, b.length)
}

/** Minimal big-endian bytes of a non-negative bigint (zero is empty), as Ethereum encodes quantities. */
export function bigintToBytes (n: bigint): Uint8Array {
  if (n === 0n) return new Uint8Array(0)
  let hex = n.toString(16)
  if (hex.length % 2 === 1) hex = '0' + hex
  return fromHex('0x' + hex) as Uint8Array
}

/** Inverse of {@link bigintToBytes}. */
export function bytesToBigint (bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(toHex(bytes))
}
