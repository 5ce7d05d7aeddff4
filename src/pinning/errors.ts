import { ChainStoreError } from '../errors.ts'

/** A pin whose DAG could not be completed (every attempt failed); its record says `failed`. */
export class PinFailedError extends ChainStoreError {}
/** GC would not be able to tell what must be kept (e.g. replicated logs on disk but replication off). */
export class GcUnsafeError extends ChainStoreError {}
/** A policy file or config value that does not have the shape of a policy. */
export class InvalidPinPolicyError extends ChainStoreError {}
