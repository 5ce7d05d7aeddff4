import { ChainStoreError } from '../errors.ts'

/** The config (object, file or environment) does not validate; the message names each bad field. */
export class InvalidConfigError extends ChainStoreError {}
