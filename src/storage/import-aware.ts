import { LevelBlockstore } from 'blockstore-level'
import type { CID } from 'multiformats/cid'
import { IDENTITY, bytesMatchCid, isVerifiableHash } from '../codec/cid.ts'
import { damagedBlock } from './sources.ts'

/**
 * The LevelDB blockstore Helia writes through, telling the store which
 * blocks a file import touches: Helia skips the put of a block it already
 * has (`has` first), so both calls count. The store uses it to take such
 * blocks out of the fetch cache before the file's pin holds them. Reads
 * re-hash what they return against the CID (unless `verify` is off, a
 * trusted disk): damage at rest is a CorruptDataError, not a block. An
 * identity CID is answered from itself, as Helia's blockstore does.
 */
export class ImportAwareBlockstore extends LevelBlockstore {
  touched?: (cid: CID) => Promise<void>
  /** Re-hash reads against their CIDs (config `verifyReads`). */
  verify = true

  override async has (cid: CID, options?: any): Promise<boolean> {
    if (cid.multihash.code === IDENTITY) return true
    await this.touched?.(cid)
    return await super.has(cid, options)
  }

  override async put (cid: CID, bytes: Uint8Array, options?: any): Promise<CID> {
    // an identity CID's bytes are in the CID: nothing to store (as Helia's own blockstore does)
    if (cid.multihash.code === IDENTITY) return cid
    await this.touched?.(cid)
    return await super.put(cid, bytes, options)
  }

  override async * get (cid: CID, options?: any): AsyncGenerator<Uint8Array> {
    if (cid.multihash.code === IDENTITY) { yield cid.multihash.digest; return }
    for await (const bytes of super.get(cid, options)) {
      if (this.verify && isVerifiableHash(cid.multihash.code) && !bytesMatchCid(cid, bytes)) throw damagedBlock(cid)
      yield bytes
    }
  }
}
