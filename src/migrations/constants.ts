import { metaKey } from '../storage/keys.ts'

/** Schema version this code writes and reads. */
export const CURRENT_SCHEMA = 6
/** Version of a store that records none: everything written before migrations existed. */
export const UNVERSIONED_SCHEMA = 1
/** Meta key of the store's identity (16 random bytes), written by migration 2. */
export const META_STORE_ID = metaKey('store-id')
/** Bytes of a store id. */
export const STORE_ID_BYTES = 16
