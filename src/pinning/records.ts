import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import type { ClassicLevel } from 'classic-level'
import { CorruptDataError } from '../codec/errors.ts'
import { PREFIX, concat, prefixRange } from '../storage/keys.ts'
import type { WriteBatch } from '../storage/types.ts'

/** Why a DAG is pinned; one root can be held for several reasons. */
export type PinReason = 'chain' | 'blob' | 'user' | 'state' | 'attestation'

/** A persisted pin: a DAG root held for one or more reasons (a reference count by reason). */
export interface PinRecord {
  cid: CID
  reasons: PinReason[]
  /** True when any reason holds the whole DAG, not only the root block. */
  recursive: boolean
  /** The reasons that hold the whole DAG (the rest hold the root alone). */
  deep?: PinReason[]
  /** Height of the block the pin belongs to, when it belongs to one. */
  height?: number
}

/** Reads a root's current pin record (for merging a new reason into it). */
export type PinReader = (cid: CID) => PinRecord | undefined

function pinKey (cid: CID): Uint8Array {
  return concat([Uint8Array.of(PREFIX.PIN), cid.bytes])
}

/** Adds a pin record to a batch, so the pin is written atomically with what it pins. */
export function pinInBatch (batch: WriteBatch, record: Omit<PinRecord, 'cid'> & { cid: CID }): void {
  const value: Record<string, unknown> = { reasons: record.reasons, recursive: record.recursive }
  if (record.deep != null) value.deep = record.deep
  if (record.height != null) value.height = record.height
  batch.put(pinKey(record.cid), dagCbor.encode(value))
}

function deepOf (r: PinRecord): PinReason[] {
  return r.deep ?? (r.recursive ? r.reasons : [])
}

/**
 * Holds a root for `reason` in a batch, merged with the reasons it is already
 * held for (`read` gives the current record), so one reason never drops
 * another's hold: a user pin on a chain block keeps the chain's, and a
 * policy change of the chain pin keeps the user's.
 */
export function holdInBatch (batch: WriteBatch, read: PinReader | undefined, cid: CID, reason: PinReason, deep: boolean, height?: number): void {
  const existing = read?.(cid)
  const reasons = new Set<PinReason>(existing?.reasons ?? [])
  reasons.add(reason)
  const deepReasons = new Set<PinReason>(existing != null ? deepOf(existing) : [])
  if (deep) deepReasons.add(reason)
  else deepReasons.delete(reason)
  pinInBatch(batch, { cid, reasons: [...reasons], recursive: deepReasons.size > 0, deep: [...deepReasons], height: height ?? existing?.height })
}

/** Drops `reason`'s hold on a root; the record goes when no reason is left. */
export function releaseInBatch (batch: WriteBatch, read: PinReader | undefined, cid: CID, reason: PinReason): void {
  const existing = read?.(cid)
  const reasons = (existing?.reasons ?? []).filter(r => r !== reason)
  if (reasons.length === 0) { batch.del(pinKey(cid)); return }
  const deep = deepOf(existing!).filter(r => r !== reason)
  pinInBatch(batch, { cid, reasons, recursive: deep.length > 0, deep, ...(existing!.height != null ? { height: existing!.height } : {}) })
}

/** Reads the pin record of a root, if any. */
export function readPin (db: ClassicLevel<Uint8Array, Uint8Array>, cid: CID): PinRecord | undefined {
  const bytes = db.getSync(pinKey(cid))
  return bytes == null ? undefined : decodePinValue(cid, bytes)
}

/** Decodes a stored pin record's value. */
export function decodePinValue (cid: CID, bytes: Uint8Array): PinRecord {
  const v = dagCbor.decode<any>(bytes)
  if (v == null || !Array.isArray(v.reasons) || typeof v.recursive !== 'boolean') throw new CorruptDataError(`pin record of ${cid.toString()}: unexpected shape`)
  return { cid, reasons: v.reasons, recursive: v.recursive, ...(Array.isArray(v.deep) ? { deep: v.deep } : {}), ...(typeof v.height === 'number' ? { height: v.height } : {}) }
}

/** Lists every pin record. */
export async function * listPins (db: ClassicLevel<Uint8Array, Uint8Array>, options: { signal?: AbortSignal } = {}): AsyncGenerator<PinRecord> {
  for await (const [key, value] of db.iterator(prefixRange(Uint8Array.of(PREFIX.PIN)))) {
    options.signal?.throwIfAborted()
    const cid = CID.decode(key.subarray(1))
    yield decodePinValue(cid, value)
  }
}
