import { ChainStoreError } from '../errors.ts'

/** The store was written by a newer chainstore than this one; opening it could corrupt it. */
export class SchemaTooNewError extends ChainStoreError {
  readonly storeVersion: number
  readonly codeVersion: number
  constructor (storeVersion: number, codeVersion: number) {
    super(`the store has schema version ${storeVersion}, this chainstore knows up to ${codeVersion}: upgrade chainstore to open it`)
    this.storeVersion = storeVersion
    this.codeVersion = codeVersion
  }
}
/** The recorded schema version does not decode. */
export class CorruptSchemaError extends ChainStoreError {}
/** A migration step failed; the store stays at the version before that step. */
export class MigrationFailedError extends ChainStoreError {}
