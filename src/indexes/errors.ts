import { ChainStoreError } from '../errors.ts'

/** A pagination cursor that this store did not hand out. */
export class InvalidCursorError extends ChainStoreError {}
