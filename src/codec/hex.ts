const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

/** Lower-case 0x-hex of bytes. */
export function toHex (bytes: Uint8Array): string {
  let out = '0x'
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i]]
  return out
}

const HEX_STRING = /^0[xX](?:[0-9a-fA-F]{2})*$/

/** Bytes of an even-length 0x-hex string, or `undefined` when it is not one. */
export function fromHex (hex: string): Uint8Array | undefined {
  // the regex rejects what Buffer's lenient hex parser would silently truncate
  if (hex.length > 64) {
    if (!HEX_STRING.test(hex)) return undefined
    return new Uint8Array(Buffer.from(hex.slice(2), 'hex'))
  }
  return fromHexShort(hex)
}

function fromHexShort (hex: string): Uint8Array | undefined {
  if (hex.length < 2 || hex.charCodeAt(0) !== 48 || (hex.charCodeAt(1) | 32) !== 120 || hex.length % 2 !== 0) return undefined
  const out = new Uint8Array((hex.length - 2) / 2)
  for (let i = 0; i < out.length; i++) {
    const hi = nibble(hex.charCodeAt(2 + i * 2))
    const lo = nibble(hex.charCodeAt(3 + i * 2))
    if (hi < 0 || lo < 0) return undefined
    out[i] = (hi << 4) | lo
  }
  return out
}

function nibble (c: number): number {
  if (c >= 48 && c <= 57) return c - 48
  const l = c | 32
  if (l >= 97 && l <= 102) return l - 87
  return -1
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
