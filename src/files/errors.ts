import { ChainStoreError } from '../errors.ts'

/** An `addFile` option that is unknown or out of range (`chunkSize: 0`, `profile: 'v3'`, a misspelt key); the message names the key and value. */
export class InvalidFileOptionsError extends ChainStoreError {}
