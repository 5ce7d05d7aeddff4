/**
 * A flat copy of a string. multiformats builds a CID's string (and a peer
 * id's) as a rope one character at a time: kept as a Map key it costs ~32
 * bytes per character (~1.5 KB for an entry hash) instead of one byte. Long-lived
 * keys go through here; the strings are ASCII (base58, base32, base36).
 */
export function flat (s: string): string {
  return Buffer.from(s, 'latin1').toString('latin1')
}

/** Buffer's native latin1 decoder, called on the view itself (no Buffer object per key). */
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice: (this: Uint8Array, start: number, end: number) => string }).latin1Slice

/** A byte string (`b[start, end)`, by default all of it) as a flat latin1 string: a Map key made from bytes. */
export function latin1 (b: Uint8Array, start = 0, end = b.length): string {
  return latin1Slice.call(b, start, end)
}
