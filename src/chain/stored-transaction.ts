import { inspect } from 'node:util'
import type { CID } from 'multiformats/cid'
import { decodeTx } from '../codec/decode.ts'
import type { Transaction, TransactionRecord } from '../codec/types.ts'
import type { TxRecord } from '../indexes/records.ts'

/**
 * What `getTransaction` returns. The id and the numbers of its location are
 * fields; the decoded transaction (hex strings, BigInts) and the CIDs of
 * its block and page are made on first access, once: a caller that reads
 * only where a transaction is, or only some transactions of a page of
 * results, does not pay for the rest (they were ~40 % of an uncached read).
 * The bytes were checked before this was made (the record's checksum and,
 * with `verifyReads`, a re-hash against the id), so a getter does not throw
 * (with `verifyReads: false`, damaged bytes can still fail to decode there:
 * CorruptDataError).
 *
 * Getters live on the prototype: a spread (`{ ...record }`) or
 * `structuredClone` copies only the id and the numbers. `toJSON()` gives
 * the whole record as a plain object (JSON.stringify calls it).
 */
export class StoredTransaction implements TransactionRecord {
  readonly id: CID
  readonly height: number
  readonly page: number
  readonly position: number
  readonly index: number
  readonly #record: TxRecord
  #transaction: Transaction | undefined

  constructor (id: CID, record: TxRecord) {
    this.id = id
    this.#record = record
    this.height = record.height
    this.page = record.page
    this.position = record.position
    this.index = record.index
  }

  get transaction (): Transaction { return (this.#transaction ??= decodeTx(this.#record.txBytes)) }
  get blockCid (): CID { return this.#record.blockCid }
  get pageCid (): CID { return this.#record.pageCid }

  /** The whole record as a plain object. */
  toJSON (): TransactionRecord {
    return { id: this.id, transaction: this.transaction, blockCid: this.blockCid, height: this.height, page: this.page, pageCid: this.pageCid, position: this.position, index: this.index }
  }

  [inspect.custom] (depth: number, options: object): string {
    return `StoredTransaction ${inspect(this.toJSON(), { ...options, depth })}`
  }
}
