/** Per byte value, its two lower-case hex digits as char codes (first in the low byte). */
const HEX_CODES = new Uint16Array(256)
for (let i = 0; i < 256; i++) {
  const s = i.toString(16).padStart(2, '0')
  HEX_CODES[i] = s.charCodeAt(0) | (s.charCodeAt(1) << 8)
}

/** Bytes up to which {@link hexAt} builds the string from char codes; longer values go to Buffer's native encoder. */
const SHORT_HEX = 64

/** Per byte length up to SHORT_HEX, a reused array of the char codes of '0x' and the digits. */
const charCodes: number[][] = []

/** Lower-case 0x-hex of bytes. */
export function toHex (bytes: Uint8Array): string {
  return hexAt(bytes, 0, bytes.length)
}

/**
 * Lower-case 0x-hex of `n` bytes of `b` from `start`, as one flat string.
 * (Appending two digits at a time builds a rope of n pieces that V8
 * flattens again at the first comparison or Map lookup; this is ~2× faster
 * including that, and reads straight from a page without a view per field.)
 */
export function hexAt (b: Uint8Array, start: number, n: number): string {
  if (n > SHORT_HEX) return '0x' + Buffer.from(b.buffer, b.byteOffset + start, n).toString('hex')
  let c = charCodes[n]
  if (c === undefined) {
    c = new Array<number>(2 + 2 * n).fill(0)
    c[0] = 48
    c[1] = 120
    charCodes[n] = c
  }
  for (let i = 0; i < n; i++) {
    const h = HEX_CODES[b[start + i]]
    c[2 + 2 * i] = h & 0xff
    c[3 + 2 * i] = h >> 8
  }
  return String.fromCharCode.apply(null, c)
}

/**
 * Bytes of an even-length 0x-hex string, or `undefined` when it is not one.
 * Node's hex decoder stops at the first pair that is not hex, so the decoded
 * length is the whole check; small results are views into Buffer's shared
 * pool (one off-heap slab for many values, ~3× faster than a JS loop).
 */
export function fromHex (hex: string): Uint8Array | undefined {
  if (!hexShaped(hex)) return undefined
  const b = Buffer.from(hex.substring(2), 'hex')
  if (b.length !== (hex.length - 2) >> 1) return undefined
  return new Uint8Array(b.buffer, b.byteOffset, b.length)
}

/** A 0x-prefixed string of an even number of characters: the shape of 0x-hex (the digits themselves are checked as they are decoded). */
export function hexShaped (hex: string): boolean {
  const n = hex.length
  return n >= 2 && (n & 1) === 0 && hex.charCodeAt(0) === 48 && (hex.charCodeAt(1) | 32) === 120
}

/** The hex digits of a non-negative integer's minimal big-endian bytes, an even number of them (none for zero), as Ethereum encodes quantities. */
export function quantityDigits (n: bigint | number): string {
  if (n === 0 || n === 0n) return ''
  const hex = n.toString(16)
  return (hex.length & 1) === 1 ? '0' + hex : hex
}

/** Minimal big-endian bytes of a non-negative bigint (zero is empty), as Ethereum encodes quantities. */
export function bigintToBytes (n: bigint): Uint8Array {
  const b = Buffer.from(quantityDigits(n), 'hex')
  return new Uint8Array(b.buffer, b.byteOffset, b.length)
}

/** Inverse of {@link bigintToBytes} (leading zero bytes allowed). */
export function bytesToBigint (bytes: Uint8Array): bigint {
  return bigintAt(bytes, 0, bytes.length)
}

/**
 * The big-endian unsigned integer in `n` bytes of `b` from `start`: six
 * bytes at a time as exact doubles, one BigInt per six bytes (3-5× faster
 * than parsing a hex string, which most quantities needed a whole BigInt
 * parse for).
 */
export function bigintAt (b: Uint8Array, start: number, n: number): bigint {
  const end = start + n
  let y = 0
  let i = start
  if (n <= 6) {
    for (; i < end; i++) y = y * 256 + b[i]
    return BigInt(y)
  }
  for (; i < start + n % 6; i++) y = y * 256 + b[i]
  let x = BigInt(y)
  for (; i < end; i += 6) {
    const chunk = ((b[i] * 256 + b[i + 1]) * 256 + b[i + 2]) * 0x1000000 + ((b[i + 3] << 16) | (b[i + 4] << 8) | b[i + 5])
    x = (x << 48n) | BigInt(chunk)
  }
  return x
}
