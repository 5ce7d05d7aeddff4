import { ChainStoreError } from '../errors.ts'

/** An `addFile` option that is unknown or out of range (`chunkSize: 0`, `profile: 'v3'`, a misspelt key); the message names the key and value. */
export class InvalidFileOptionsError extends ChainStoreError {}
/** A `cat` of a file one of whose blocks this store does not hold (cat reads local blocks only). */
export class FileNotFoundError extends ChainStoreError {}
