import { equals } from 'uint8arrays/equals'
import { decodeLogRecord } from '../indexes/records.ts'
import {
  addressHeightKey, encodeAddressPostings, encodeLogBlock, encodeLogPostings, logBlockKey, topicHeightKey, type LogRow
} from '../indexes/postings.ts'
import { PREFIX, metaKey, prefixRange, readU16, readU32, readU64 } from '../storage/keys.ts'
import type { RootDb } from '../storage/level.ts'
import type { MigrationContext } from './types.ts'

/** Ops per chunk batch of the conversion. */
const CHUNK_OPS = 10_000
/** Set (with the last chunk) once every schema-2 entry is converted; the runner deletes it with the version. */
export const META_POSTINGS_CONVERTED = metaKey('migration-3-converted')

/** Schema-2 prefixes the conversion replaces. */
const LEGACY = [PREFIX.ADDRESS, PREFIX.LOG, PREFIX.LOG_ADDRESS, PREFIX.LOG_TOPIC] as const

/** Writes ops in batches of about {@link CHUNK_OPS}, flushing only between groups. */
class Chunks {
  readonly #db: RootDb
  #batch: ReturnType<RootDb['batch']>
  constructor (db: RootDb) { this.#db = db; this.#batch = db.batch() }
  put (k: Uint8Array, v: Uint8Array): void { this.#batch.put(k, v) }
  async groupDone (): Promise<void> { if (this.#batch.length >= CHUNK_OPS) await this.flush() }
  async flush (): Promise<void> {
    const b = this.#batch
    this.#batch = this.#db.batch()
    if (b.length > 0) await b.write({ sync: true })
    else await b.close()
  }
}

/**
 * Schema 2 → 3: one index key per address, log, log address and topic per
 * transaction become one posting list per key per block (see
 * src/indexes/postings.ts), built from the schema-2 entries themselves (so
 * blocks whose bytes the pin policy let go keep their history). Writes in
 * chunks: the new keys go first while every old key stays, so a crash
 * mid-way re-runs the conversion from complete groups; a marker written
 * with the last chunk lets a re-run skip straight to deleting the old keys.
 */
export async function convertToPostings (ctx: MigrationContext): Promise<void> {
  const { db } = ctx
  if (db.getSync(META_POSTINGS_CONVERTED) == null) {
    const chunks = new Chunks(db)
    ctx.progress(0, 3)
    await convertAddresses(db, chunks, ctx.signal)
    ctx.progress(1, 3)
    await convertLogs(db, chunks, ctx.signal)
    chunks.put(META_POSTINGS_CONVERTED, Uint8Array.of(1))
    await chunks.flush()
  }
  ctx.progress(2, 3)
  for (const prefix of LEGACY) await db.clear(prefixRange(Uint8Array.of(prefix)))
  ctx.progress(3, 3)
}

/** ADDRESS (address, height, index) → digest, grouped into ADDRESS_POSTINGS (address, height). */
async function convertAddresses (db: RootDb, chunks: Chunks, signal?: AbortSignal): Promise<void> {
  let group: { address: Uint8Array, height: number, entries: Array<{ index: number, digest: Uint8Array }> } | null = null
  const flush = async (): Promise<void> => {
    if (group == null) return
    chunks.put(addressHeightKey(PREFIX.ADDRESS_POSTINGS, group.address, group.height), encodeAddressPostings(group.entries))
    await chunks.groupDone()
  }
  for await (const [key, value] of db.iterator(prefixRange(Uint8Array.of(PREFIX.ADDRESS)))) {
    signal?.throwIfAborted()
    const address = key.subarray(1, 21)
    const height = readU64(key, 21)
    if (group == null || group.height !== height || !equals(group.address, address)) {
      await flush()
      group = { address: address.slice(), height, entries: [] }
    }
    group.entries.push({ index: readU32(key, 29), digest: value })
  }
  await flush()
}

/** LOG (height, index, log index) → record, grouped per height into LOG_BLOCK and its address and topic postings. */
async function convertLogs (db: RootDb, chunks: Chunks, signal?: AbortSignal): Promise<void> {
  let height = -1
  let rows: LogRow[] = []
  const flush = async (): Promise<void> => {
    if (rows.length === 0) return
    for (const [key, value] of blockLogEntries(height, rows)) chunks.put(key, value)
    rows = []
    await chunks.groupDone()
  }
  for await (const [key, value] of db.iterator(prefixRange(Uint8Array.of(PREFIX.LOG)))) {
    signal?.throwIfAborted()
    const h = readU64(key, 1)
    if (h !== height) { await flush(); height = h }
    rows.push({ index: readU32(key, 9), logIndex: readU16(key, 13), record: value })
  }
  await flush()
}

/** The schema-3 log entries of one block from its logs in position order. */
function blockLogEntries (height: number, rows: LogRow[]): Array<[Uint8Array, Uint8Array]> {
  const byAddress = new Map<string, { address: Uint8Array, ordinals: number[] }>()
  const byTopic = new Map<string, { slot: number, topic: Uint8Array, ordinals: number[] }>()
  rows.forEach((row, ordinal) => {
    const { log } = decodeLogRecord(row.record)
    const a = Buffer.from(log.address).toString('latin1')
    const at = byAddress.get(a) ?? byAddress.set(a, { address: log.address, ordinals: [] }).get(a)!
    at.ordinals.push(ordinal)
    log.topics.forEach((topic, slot) => {
      const k = String.fromCharCode(slot) + Buffer.from(topic).toString('latin1')
      const t = byTopic.get(k) ?? byTopic.set(k, { slot, topic, ordinals: [] }).get(k)!
      t.ordinals.push(ordinal)
    })
  })
  const out: Array<[Uint8Array, Uint8Array]> = [[logBlockKey(height), encodeLogBlock(rows, undefined, false)]] // schema 3: unsealed (migration 5 seals)
  for (const { address, ordinals } of byAddress.values()) out.push([addressHeightKey(PREFIX.LOG_ADDRESS_POSTINGS, address, height), encodeLogPostings(ordinals)])
  for (const { slot, topic, ordinals } of byTopic.values()) out.push([topicHeightKey(slot, topic, height), encodeLogPostings(ordinals)])
  return out
}

