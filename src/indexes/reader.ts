import type { ClassicLevel } from 'classic-level'
import { cidFromDigest } from '../codec/cid.ts'
import { fromStoredLog } from '../codec/decode.ts'
import { fromHex } from '../codec/hex.ts'
import { assertHeight, parseAddress } from '../codec/validate.ts'
import { DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT } from '../config/constants.ts'
import { InvalidQueryError } from '../storage/errors.ts'
import { InvalidCursorError } from './errors.ts'
import { PREFIX, concat, prefixRange, readU32, readU64, writeU32, writeU64 } from '../storage/keys.ts'
import { decodeAddressPostings, decodeLogPostings, logBlockCount, logBlockKey, logBlockRow, openLogBlock } from './postings.ts'
import { DEFAULT_LOG_LIMIT, MAX_LOG_LIMIT } from './constants.ts'
import { decodeLogRecord } from './records.ts'
import type { LogQuery, LogRecord, TopicFilter } from './types.ts'

type Db = ClassicLevel<Uint8Array, Uint8Array>

/** A page of (height, index, tx digest) entries from the address postings. */
export interface AddressEntries {
  entries: Array<{ height: number, index: number, txDigest: Uint8Array }>
  cursor?: string
}

function limitOf (limit: number | undefined, def: number, max: number): number {
  if (limit == null) return def
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > max) {
    throw new InvalidQueryError(`limit: expected an integer from 1 to ${max}, got ${String(limit)}`)
  }
  return limit
}

function encodeCursor (height: number, index: number): string {
  const b = new Uint8Array(12)
  writeU64(b, 0, height)
  writeU32(b, 8, index)
  return Buffer.from(b).toString('base64url')
}

function decodeCursor (cursor: unknown): Uint8Array {
  const b = typeof cursor === 'string' ? Buffer.from(cursor, 'base64url') : undefined
  if (b == null || b.length !== 12 || b.toString('base64url') !== cursor) {
    throw new InvalidCursorError(`cursor: "${String(cursor).slice(0, 40)}" is not a cursor this store handed out`)
  }
  return b
}

/**
 * Reads one page of an address's history from its posting lists, one per
 * block: a page may end inside a block, and the cursor (height, index of the
 * last entry) resumes right after it.
 */
export async function readAddressHistory (db: Db, address: string, options: { limit?: number, cursor?: string, reverse?: boolean, signal?: AbortSignal }): Promise<AddressEntries> {
  const addr = parseAddress(address)
  const limit = limitOf(options.limit, DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT)
  const reverse = options.reverse === true
  const prefix = concat([Uint8Array.of(PREFIX.ADDRESS_POSTINGS), addr])
  const range: Record<string, Uint8Array> = prefixRange(prefix)
  let after: { height: number, index: number } | undefined
  if (options.cursor != null) {
    const c = decodeCursor(options.cursor)
    after = { height: readU64(c, 0), index: readU32(c, 8) }
    const at = concat([prefix, c.subarray(0, 8)])
    if (reverse) { delete range.lt; range.lte = at } else range.gte = at
  }
  const entries: AddressEntries['entries'] = []
  // one more than asked tells whether a next page exists without a second query
  for await (const [key, value] of db.iterator({ ...range, reverse })) {
    options.signal?.throwIfAborted()
    const height = readU64(key, 21)
    const postings = decodeAddressPostings(value)
    if (reverse) postings.reverse()
    for (const { index, txDigest } of postings) {
      if (after != null && height === after.height && (reverse ? index >= after.index : index <= after.index)) continue
      entries.push({ height, index, txDigest })
      if (entries.length > limit) break
    }
    if (entries.length > limit) break
  }
  let cursor: string | undefined
  if (entries.length > limit) {
    entries.length = limit
    const last = entries[limit - 1]
    cursor = encodeCursor(last.height, last.index)
  }
  return { entries, cursor }
}

function topicSets (topics: TopicFilter[] | undefined): Array<Set<string> | null> {
  if (topics == null) return []
  if (!Array.isArray(topics) || topics.length > 4) throw new InvalidQueryError('topics: expected an array of at most 4 slots')
  return topics.map((slot, i) => {
    if (slot == null) return null
    const list = Array.isArray(slot) ? slot : [slot]
    for (const t of list) {
      const b = typeof t === 'string' ? fromHex(t) : undefined
      if (b?.length !== 32) throw new InvalidQueryError(`topics[${i}]: expected 0x-prefixed 32-byte hex, got ${String(t).slice(0, 70)}`)
    }
    return new Set(list.map(t => t.toLowerCase()))
  })
}

/**
 * Answers `getLogs` from the log indexes: the emitting-address postings when
 * an address is given, else the postings of the first single-topic slot,
 * else every block's log record over the height range. Never reads blocks.
 */
export async function readLogs (db: Db, query: LogQuery, head: number): Promise<LogRecord[]> {
  const from = query.fromHeight == null ? 0 : assertHeight(query.fromHeight, 'fromHeight')
  const to = query.toHeight == null ? head : assertHeight(query.toHeight, 'toHeight')
  if (to < from) throw new InvalidQueryError(`toHeight (${to}) is below fromHeight (${from})`)
  const limit = limitOf(query.limit, DEFAULT_LOG_LIMIT, MAX_LOG_LIMIT)
  const sets = topicSets(query.topics)
  let address: Uint8Array | undefined
  if (query.address != null) {
    try { address = parseAddress(query.address) } catch (err) { throw new InvalidQueryError((err as Error).message, { cause: err }) }
  }
  let prefix: Uint8Array
  const slot = sets.findIndex(s => s?.size === 1)
  if (address != null) prefix = concat([Uint8Array.of(PREFIX.LOG_ADDRESS_POSTINGS), address])
  else if (slot >= 0) prefix = concat([Uint8Array.of(PREFIX.LOG_TOPIC_POSTINGS, slot), fromHex([...sets[slot]!][0]) as Uint8Array])
  else prefix = Uint8Array.of(PREFIX.LOG_BLOCK)
  const blockScan = prefix.length === 1
  const heightAt = prefix.length

  const out: LogRecord[] = []
  for await (const [key, value] of db.iterator({ gte: concat([prefix, u64(from)]), lte: concat([prefix, u64(to)]) })) {
    query.signal?.throwIfAborted()
    const height = readU64(key, heightAt)
    const stored = blockScan ? value : db.getSync(logBlockKey(height))
    if (stored == null) continue
    const logs = openLogBlock(stored)
    const ordinals = blockScan ? Array.from({ length: logBlockCount(logs) }, (_, i) => i) : decodeLogPostings(value)
    for (const ordinal of ordinals) {
      const row = logBlockRow(logs, ordinal)
      const { txDigest, log: stored } = decodeLogRecord(row.record)
      const log = fromStoredLog(stored)
      if (address != null && query.address!.toLowerCase() !== log.address) continue
      if (!sets.every((s, i) => s == null || (log.topics[i] != null && s.has(log.topics[i])))) continue
      out.push({ ...log, txId: cidFromDigest(txDigest), height, index: row.index, logIndex: row.logIndex })
      if (out.length >= limit) return out
    }
  }
  return out
}

function u64 (n: number): Uint8Array {
  const b = new Uint8Array(8)
  writeU64(b, 0, n)
  return b
}
