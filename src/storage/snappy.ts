/**
 * Snappy decompression (the raw format LevelDB compresses table blocks
 * with): a varint of the uncompressed length, then literals and
 * back-references. Reads only what it is given; any out-of-range length
 * or offset throws, so damaged input is an error, never a wild read.
 */
export function snappyUncompress (input: Uint8Array): Uint8Array {
  let pos = 0
  let length = 0
  for (let shift = 0; ; shift += 7) {
    if (pos >= input.length || shift > 28) throw new RangeError('snappy: bad length preamble')
    const b = input[pos++]
    length += (b & 0x7f) * 2 ** shift
    if (b < 0x80) break
  }
  const out = new Uint8Array(length)
  let o = 0
  while (pos < input.length) {
    const tag = input[pos++]
    let len: number
    let offset: number
    switch (tag & 3) {
      case 0: {
        len = tag >>> 2
        if (len >= 60) {
          const n = len - 59
          if (pos + n > input.length) throw new RangeError('snappy: truncated literal length')
          len = 0
          for (let i = 0; i < n; i++) len += input[pos + i] * 2 ** (8 * i)
          pos += n
        }
        len += 1
        if (pos + len > input.length || o + len > length) throw new RangeError('snappy: literal out of range')
        out.set(input.subarray(pos, pos + len), o)
        pos += len
        o += len
        continue
      }
      case 1:
        if (pos >= input.length) throw new RangeError('snappy: truncated copy')
        len = 4 + ((tag >>> 2) & 7)
        offset = ((tag >>> 5) << 8) | input[pos++]
        break
      case 2:
        if (pos + 2 > input.length) throw new RangeError('snappy: truncated copy')
        len = (tag >>> 2) + 1
        offset = input[pos] | (input[pos + 1] << 8)
        pos += 2
        break
      default:
        if (pos + 4 > input.length) throw new RangeError('snappy: truncated copy')
        len = (tag >>> 2) + 1
        offset = (input[pos] | (input[pos + 1] << 8) | (input[pos + 2] << 16) | (input[pos + 3] << 24)) >>> 0
        pos += 4
    }
    if (offset === 0 || offset > o || o + len > length) throw new RangeError('snappy: copy out of range')
    for (let i = 0; i < len; i++, o++) out[o] = out[o - offset]
  }
  if (o !== length) throw new RangeError(`snappy: ${o} bytes decoded, ${length} announced`)
  return out
}
