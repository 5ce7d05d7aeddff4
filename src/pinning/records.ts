import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import type { ClassicLevel } from 'classic-level'
import { CorruptDataError } from '../codec/errors.ts'
import { PREFIX, concat, prefixRange } from '../storage/keys.ts'
import type { WriteBatch } from '../storage/types.ts'

/** Why a DAG is pinned; one root can be held for several reasons. */
export type PinReason = 'chain' | 'blob' | 'user'

/** A persisted pin: a DAG root held recursively for one or more reasons. */
export interface PinRecord {
  cid: CID
  reasons: PinReason[]
  recursive: boolean
  /** Height of the block the pin belongs to, when it belongs to one. */
  height?: number
}

function pinKey (cid: CID): Uint8Array {
  return concat([Uint8Array.of(PREFIX.PIN), cid.bytes])
}

/** Adds a pin record to a batch, so the pin is written atomically with what it pins. */
export function pinInBatch (batch: WriteBatch, record: Omit<PinRecord, 'cid'> & { cid: CID }): void {
  const value: Record<string, unknown> = { reasons: record.reasons, recursive: record.recursive }
  if (record.height != null) value.height = record.height
  batch.put(pinKey(record.cid), dagCbor.encode(value))
}

/** Removes a root's pin record in a batch. */
export function unpinInBatch (batch: WriteBatch, cid: CID): void {
  batch.del(pinKey(cid))
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
  return { cid, reasons: v.reasons, recursive: v.recursive, ...(typeof v.height === 'number' ? { height: v.height } : {}) }
}

/** Lists every pin record. */
export async function * listPins (db: ClassicLevel<Uint8Array, Uint8Array>, options: { signal?: AbortSignal } = {}): AsyncGenerator<PinRecord> {
  for await (const [key, value] of db.iterator(prefixRange(Uint8Array.of(PREFIX.PIN)))) {
    options.signal?.throwIfAborted()
    const cid = CID.decode(key.subarray(1))
    yield decodePinValue(cid, value)
  }
}
