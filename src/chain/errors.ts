import { ChainStoreError } from '../errors.ts'

/** No transaction with that id. */
export class TransactionNotFoundError extends ChainStoreError {}
/** The transaction exists but its block carried no receipts. */
export class ReceiptNotFoundError extends ChainStoreError {}
/** A block's parent is not stored and the config does not allow gaps. */
export class ParentNotFoundError extends ChainStoreError {}
/** A different block is already stored at that height. */
export class HeightConflictError extends ChainStoreError {}
