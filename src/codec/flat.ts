/**
 * A flat copy of a string. multiformats builds a CID's string (and a peer
 * id's) as a rope one character at a time: kept as a Map key it costs ~32
 * bytes per character (~1.5 KB for an entry hash) instead of one byte. Long-lived
 * keys go through here; the strings are ASCII (base58, base32, base36).
 */
export function flat (s: string): string {
  return Buffer.from(s, 'latin1').toString('latin1')
}
