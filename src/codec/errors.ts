import { ChainStoreError } from '../errors.ts'

/** A block (or one of its transactions or receipts) is malformed; the message names the field. */
export class InvalidBlockError extends ChainStoreError {}
/** One encoded transaction is larger than `limits.maxTxBytes`. */
export class TransactionTooLargeError extends InvalidBlockError {}
/** A block's encoded size or transaction count passes its limit. */
export class BlockTooLargeError extends InvalidBlockError {}
/** A string or object that should be a CID is not one, or not one chainstore can hold. */
export class InvalidCidError extends ChainStoreError {}
/** A string that should be a 0x-prefixed 20-byte hex address is not one. */
export class InvalidAddressError extends ChainStoreError {}
/** A height that is not a non-negative safe integer. */
export class InvalidHeightError extends ChainStoreError {}
/** Stored or received bytes that do not decode as what they claim to be; `cid` names the damaged block when one is known. */
export class CorruptDataError extends ChainStoreError {
  readonly cid?: string
  constructor (message: string, options?: { cause?: unknown, cid?: string }) {
    super(message, options)
    if (options?.cid != null) this.cid = options.cid
  }
}
/** A block a DAG walk needs is not where the walk's loader looked (and the walk was not asked to report it). */
export class MissingBlockError extends ChainStoreError {}
