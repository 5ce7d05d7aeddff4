import { CID } from 'multiformats/cid'
import { toHex } from './hex.ts'

/** JSON with CIDs as strings, bigints as decimal strings and bytes as 0x-hex. */
export function toJson (value: unknown, space?: number): string {
  return JSON.stringify(value, function (this: any, key: string, v: unknown) {
    // toJSON (CID's, Buffer's) has already run on `v`; the holder still has the original
    const original = key === '' ? value : this[key]
    if (typeof original === 'bigint') return original.toString()
    if (original instanceof Uint8Array) return toHex(original)
    const cid = CID.asCID(original)
    if (cid != null) return cid.toString()
    return v
  }, space)
}
