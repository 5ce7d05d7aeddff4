import { ChainStoreError } from '../errors.ts'

/** No transaction with that id. */
export class TransactionNotFoundError extends ChainStoreError {}
/** The transaction exists but its block carried no receipts. */
export class ReceiptNotFoundError extends ChainStoreError {}
/** A block's parent is not stored and the config does not allow gaps. */
export class ParentNotFoundError extends ChainStoreError {}
/** A different block is already stored at that height. */
export class HeightConflictError extends ChainStoreError {}
/** The canonical chain has heights missing below the head (acknowledged writes lost to damage): writes on top of it are refused until it is repaired. */
export class ChainHoleError extends ChainStoreError {}
