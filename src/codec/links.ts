import * as dagCbor from '@ipld/dag-cbor'
import * as dagPb from '@ipld/dag-pb'
import { CID } from 'multiformats/cid'
import { DAG_CBOR, RAW } from './cid.ts'

/** Deepest nesting followed inside a dag-cbor value. */
const MAX_DEPTH = 64

/**
 * The CIDs a block links to, in encoded order: dag-cbor (every CID in the
 * value), dag-pb (its Links), raw (none). `undefined` for a codec whose links
 * cannot be read here. Throws when the bytes do not decode.
 */
export function linksOf (cid: CID, bytes: Uint8Array): CID[] | undefined {
  if (cid.code === RAW) return []
  if (cid.code === dagPb.code) return dagPb.decode(bytes).Links.map(l => l.Hash)
  if (cid.code === DAG_CBOR) {
    const out: CID[] = []
    const visit = (v: unknown, depth: number): void => {
      if (depth > MAX_DEPTH || v == null || typeof v !== 'object' || v instanceof Uint8Array) return
      const c = CID.asCID(v)
      if (c != null) { out.push(c); return }
      for (const x of Array.isArray(v) ? v : Object.values(v)) visit(x, depth + 1)
    }
    visit(dagCbor.decode(bytes), 0)
    return out
  }
  return undefined
}
