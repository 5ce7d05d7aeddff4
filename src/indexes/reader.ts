import type { ClassicLevel } from 'classic-level'
import { cidFromDigest } from '../codec/cid.ts'
import { fromStoredLog } from '../codec/decode.ts'
import { fromHex } from '../codec/hex.ts'
import { assertHeight, parseAddress } from '../codec/validate.ts'
import { DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT } from '../config/constants.ts'
import { InvalidCursorError, InvalidQueryError } from '../storage/errors.ts'
import { PREFIX, concat, logPosition, prefixRange, readU16, readU32, readU64, writeU32, writeU64 } from '../storage/keys.ts'
import { DEFAULT_LOG_LIMIT, MAX_LOG_LIMIT } from './constants.ts'
import { decodeLogRecord } from './records.ts'
import type { LogQuery, LogRecord, TopicFilter } from './types.ts'

type Db = ClassicLevel<Uint8Array, Uint8Array>

/** A page of (height, index, tx digest) entries from the address index. */
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

/** Reads one page of an address's history from the address index. */
export async function readAddressHistory (db: Db, address: string, options: { limit?: number, cursor?: string, reverse?: boolean, signal?: AbortSignal }): Promise<AddressEntries> {
  const addr = parseAddress(address)
  const limit = limitOf(options.limit, DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT)
  const prefix = concat([Uint8Array.of(PREFIX.ADDRESS), addr])
  const range: Record<string, Uint8Array> = prefixRange(prefix)
  if (options.cursor != null) {
    const after = concat([prefix, decodeCursor(options.cursor)])
    if (options.reverse === true) range.lt = after
    else { delete range.gte; range.gt = after }
  }
  const entries: AddressEntries['entries'] = []
  // one more than asked tells whether a next page exists without a second query
  for await (const [key, value] of db.iterator({ ...range, reverse: options.reverse === true, limit: limit + 1 })) {
    options.signal?.throwIfAborted()
    entries.push({ height: readU64(key, 21), index: readU32(key, 29), txDigest: value })
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
 * Answers `getLogs` from the log indexes: the emitting-address index when an
 * address is given, else the index of the first single-topic slot, else the
 * position index over the height range. Never reads blocks.
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
  const lo = logPosition(from, 0, 0)
  const hi = logPosition(to + 1 > Number.MAX_SAFE_INTEGER ? to : to + 1, 0, 0)
  let prefix: Uint8Array
  const slot = sets.findIndex(s => s?.size === 1)
  if (address != null) prefix = concat([Uint8Array.of(PREFIX.LOG_ADDRESS), address])
  else if (slot >= 0) prefix = concat([Uint8Array.of(PREFIX.LOG_TOPIC, slot), fromHex([...sets[slot]!][0]) as Uint8Array])
  else prefix = Uint8Array.of(PREFIX.LOG)
  const usesPositionIndex = prefix.length === 1

  const out: LogRecord[] = []
  for await (const [key, value] of db.iterator({ gte: concat([prefix, lo]), lt: concat([prefix, hi]) })) {
    query.signal?.throwIfAborted()
    const pos = key.subarray(prefix.length)
    const recordBytes = usesPositionIndex ? value : db.getSync(concat([Uint8Array.of(PREFIX.LOG), pos]))
    if (recordBytes == null) continue
    const { txDigest, log: stored } = decodeLogRecord(recordBytes)
    const log = fromStoredLog(stored)
    if (address != null && query.address!.toLowerCase() !== log.address) continue
    if (!sets.every((s, i) => s == null || (log.topics[i] != null && s.has(log.topics[i])))) continue
    out.push({ ...log, txId: cidFromDigest(txDigest), height: readU64(pos, 0), index: readU32(pos, 8), logIndex: readU16(pos, 12) })
    if (out.length >= limit) break
  }
  return out
}
