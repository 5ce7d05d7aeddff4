import { LevelBlockstore } from 'blockstore-level'
import type { CID } from 'multiformats/cid'

/**
 * The LevelDB blockstore Helia writes through, telling the store which
 * blocks a file import touches: Helia skips the put of a block it already
 * has (`has` first), so both calls count. The store uses it to take such
 * blocks out of the fetch cache before the file's pin holds them.
 */
export class ImportAwareBlockstore extends LevelBlockstore {
  touched?: (cid: CID) => Promise<void>
  override async has (cid: CID, options?: any): Promise<boolean> {
    await this.touched?.(cid)
    return await super.has(cid, options)
  }

  override async put (cid: CID, bytes: Uint8Array, options?: any): Promise<CID> {
    await this.touched?.(cid)
    return await super.put(cid, bytes, options)
  }
}
