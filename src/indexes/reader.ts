import type { ClassicLevel } from 'classic-level'
import { cidFromDigest } from '../codec/cid.ts'
import { fromStoredLog } from '../codec/decode.ts'
import { fromHex } from '../codec/hex.ts'
import { assertHeight, parseAddress } from '../codec/validate.ts'
import { DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT } from '../config/constants.ts'
import { InvalidQueryError } from '../storage/errors.ts'
import { InvalidCursorError } from './errors.ts'
import { POSTINGS_WINDOW, PREFIX, concat, readU32, readU64, writeU32, writeU64 } from '../storage/keys.ts'
import { logBlockCount, logBlockKey, logBlockRow, openLogBlock } from './postings.ts'
import { decodeWindow, payloadBytes, windowOf, type PostingWindows, type WindowRow } from './windows.ts'
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
 * Rows of one key base in height order (descending when `reverse`) from
 * `from` to `to` inclusive: the window keys on disk, merged with the
 * windows the live store holds in memory (which stand in for any disk copy).
 */
async function * windowRows (db: Db, windows: PostingWindows | undefined, base: Uint8Array, from: number, to: number, reverse: boolean, signal?: AbortSignal): AsyncGenerator<WindowRow> {
  const size = payloadBytes(base[0])
  const mem = windows?.memoryRows(base) ?? { windows: new Set<number>(), rows: [] }
  const memRows = mem.rows.filter(r => r.height >= from && r.height <= to)
  if (reverse) memRows.reverse()
  let m = 0
  // memory rows that come before disk window `w` in iteration order
  const before = (w: number): boolean => m < memRows.length && (reverse ? windowOf(memRows[m].height) > w : windowOf(memRows[m].height) < w)
  const range = { gte: concat([base, u64(windowOf(from) * POSTINGS_WINDOW)]), lte: concat([base, u64(windowOf(to) * POSTINGS_WINDOW)]), reverse }
  for await (const [key, value] of db.iterator(range)) {
    signal?.throwIfAborted()
    const w = windowOf(readU64(key, base.length))
    if (mem.windows.has(w)) continue
    while (before(w)) yield memRows[m++]
    const rows = decodeWindow(value, size, 'postings window')
    if (reverse) rows.reverse()
    for (const row of rows) if (row.height >= from && row.height <= to) yield row
  }
  while (m < memRows.length) yield memRows[m++]
}

/**
 * Reads one page of an address's history from its window postings: a page
 * may end inside a block, and the cursor (height, index of the last entry)
 * resumes right after it.
 */
export async function readAddressHistory (db: Db, windows: PostingWindows | undefined, address: string, options: { limit?: number, cursor?: string, reverse?: boolean, signal?: AbortSignal }): Promise<AddressEntries> {
  const addr = parseAddress(address)
  const limit = limitOf(options.limit, DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT)
  const reverse = options.reverse === true
  const base = concat([Uint8Array.of(PREFIX.ADDRESS_WINDOW), addr])
  let after: { height: number, index: number } | undefined
  let from = 0
  let to = Number.MAX_SAFE_INTEGER
  if (options.cursor != null) {
    const c = decodeCursor(options.cursor)
    after = { height: readU64(c, 0), index: readU32(c, 8) }
    if (reverse) to = after.height
    else from = after.height
  }
  const entries: AddressEntries['entries'] = []
  // one more than asked tells whether a next page exists without a second query
  for await (const { height, payload } of windowRows(db, windows, base, from, to, reverse, options.signal)) {
    const index = readU32(payload, 0)
    if (after != null && height === after.height && (reverse ? index >= after.index : index <= after.index)) continue
    entries.push({ height, index, txDigest: payload.subarray(4, 36) })
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
export async function readLogs (db: Db, windows: PostingWindows | undefined, query: LogQuery, head: number): Promise<LogRecord[]> {
  const from = query.fromHeight == null ? 0 : assertHeight(query.fromHeight, 'fromHeight')
  const to = query.toHeight == null ? head : assertHeight(query.toHeight, 'toHeight')
  if (to < from) throw new InvalidQueryError(`toHeight (${to}) is below fromHeight (${from})`)
  const limit = limitOf(query.limit, DEFAULT_LOG_LIMIT, MAX_LOG_LIMIT)
  const sets = topicSets(query.topics)
  let address: Uint8Array | undefined
  if (query.address != null) {
    try { address = parseAddress(query.address) } catch (err) { throw new InvalidQueryError((err as Error).message, { cause: err }) }
  }
  const slot = sets.findIndex(s => s?.size === 1)
  let base: Uint8Array | undefined
  if (address != null) base = concat([Uint8Array.of(PREFIX.LOG_ADDRESS_WINDOW), address])
  else if (slot >= 0) base = concat([Uint8Array.of(PREFIX.LOG_TOPIC_WINDOW, slot), fromHex([...sets[slot]!][0]) as Uint8Array])

  const out: LogRecord[] = []
  const match = (logs: Uint8Array, ordinal: number, height: number): boolean => {
    const row = logBlockRow(logs, ordinal)
    const { txDigest, log: stored } = decodeLogRecord(row.record)
    const log = fromStoredLog(stored)
    if (address != null && query.address!.toLowerCase() !== log.address) return false
    if (!sets.every((s, i) => s == null || (log.topics[i] != null && s.has(log.topics[i])))) return false
    out.push({ ...log, txId: cidFromDigest(txDigest), height, index: row.index, logIndex: row.logIndex })
    return out.length >= limit
  }
  if (base == null) {
    // no address or single topic: every block's log record over the range
    for await (const [key, value] of db.iterator({ gte: logBlockKey(from), lte: logBlockKey(to) })) {
      query.signal?.throwIfAborted()
      const height = readU64(key, 1)
      const logs = openLogBlock(value)
      for (let ordinal = 0; ordinal < logBlockCount(logs); ordinal++) if (match(logs, ordinal, height)) return out
    }
    return out
  }
  let at = -1
  let logs: Uint8Array | undefined
  for await (const { height, payload } of windowRows(db, windows, base, from, to, false, query.signal)) {
    if (height !== at) {
      at = height
      const stored = db.getSync(logBlockKey(height))
      logs = stored == null ? undefined : openLogBlock(stored)
    }
    if (logs != null && match(logs, readU32(payload, 0), height)) return out
  }
  return out
}

function u64 (n: number): Uint8Array {
  const b = new Uint8Array(8)
  writeU64(b, 0, n)
  return b
}
