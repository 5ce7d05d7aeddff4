import { POSTINGS_WINDOW, PREFIX, concat, prefixRange, readU64 } from '../storage/keys.ts'
import type { RootDb } from '../storage/level.ts'
import { encodeWindow, payloadBytes, windowKey, windowOf, type WindowRow } from '../indexes/windows.ts'
import type { MigrationContext } from './types.ts'

/** Ops per chunk batch of the conversion (flushed between groups only). */
const CHUNK_OPS = 10_000

/** Schema 3-5 per-block posting prefixes, the window prefix each becomes, and the key bytes between prefix and height. */
const CONVERSIONS = [
  { from: PREFIX.ADDRESS_POSTINGS, to: PREFIX.ADDRESS_WINDOW, keyBytes: 20 },
  { from: PREFIX.LOG_ADDRESS_POSTINGS, to: PREFIX.LOG_ADDRESS_WINDOW, keyBytes: 20 },
  { from: PREFIX.LOG_TOPIC_POSTINGS, to: PREFIX.LOG_TOPIC_WINDOW, keyBytes: 33 }
] as const

/**
 * Schema 5 → 6: the per-block posting lists (one key per address, log
 * address and topic per block) become one key per key per window of
 * {@link POSTINGS_WINDOW} heights (src/indexes/windows.ts). A per-block
 * value is its entries back to back, each exactly a window row's payload,
 * so a window's rows are (height, entry) in key order. Each group (one key,
 * one window) is written and its old keys deleted in the same batch, so a
 * crash mid-way leaves whole groups converted and a re-run goes on with the
 * rest. The store moves the head's window into memory when it opens.
 */
export async function convertToWindows (ctx: MigrationContext): Promise<void> {
  const { db } = ctx
  for (let i = 0; i < CONVERSIONS.length; i++) {
    ctx.progress(i, CONVERSIONS.length)
    await convert(db, CONVERSIONS[i], ctx.signal)
  }
  ctx.progress(CONVERSIONS.length, CONVERSIONS.length)
}

async function convert (db: RootDb, c: typeof CONVERSIONS[number], signal?: AbortSignal): Promise<void> {
  const size = payloadBytes(c.to)
  const heightAt = 1 + c.keyBytes
  let batch = db.batch()
  let group: { base: Uint8Array, window: number, rows: WindowRow[], old: Uint8Array[] } | null = null
  const close = async (): Promise<void> => {
    if (group == null) return
    batch.put(windowKey(group.base, group.window), encodeWindow(group.rows, size))
    for (const k of group.old) batch.del(k)
    group = null
    if (batch.length >= CHUNK_OPS) {
      await batch.write({ sync: true })
      batch = db.batch()
    }
  }
  for await (const [key, value] of db.iterator(prefixRange(Uint8Array.of(c.from)))) {
    signal?.throwIfAborted()
    const height = readU64(key, heightAt)
    const w = windowOf(height)
    const keyBytes = key.subarray(1, heightAt)
    if (group == null || group.window !== w || !sameBytes(group.base.subarray(1), keyBytes)) {
      await close()
      group = { base: concat([Uint8Array.of(c.to), keyBytes]), window: w, rows: [], old: [] }
    }
    group.old.push(key)
    for (let o = 0; o + size <= value.length; o += size) group.rows.push({ height, payload: value.subarray(o, o + size) })
  }
  await close()
  if (batch.length > 0) await batch.write({ sync: true })
  else await batch.close()
}

function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
