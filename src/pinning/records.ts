import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import type { ClassicLevel } from 'classic-level'
import { CorruptDataError } from '../codec/errors.ts'
import { PREFIX, prefixRange, prefixedKey } from '../storage/keys.ts'
import type { WriteBatch } from '../storage/types.ts'

/** Why a DAG is pinned; one root can be held for several reasons. */
export type PinReason = 'chain' | 'blob' | 'user' | 'remote' | 'state' | 'attestation'

/** Reasons a person (or their client) placed: `user` (the API, the CLI) and `remote` (requests through the Pinning Service API). */
export type HoldReason = Extract<PinReason, 'user' | 'remote'>
export const HOLD_REASONS: ReadonlySet<PinReason> = new Set<PinReason>(['user', 'remote'])

/**
 * Where a pin stands. Holds written with their blocks (chain, blob, state,
 * attestation) are `pinned` at once; a hold whose DAG is not all here yet
 * (a user pin, a checkpoint finalized after its pages were collected) is
 * `queued`, then `pinning` while its missing blocks are fetched and verified,
 * then `pinned`, or `failed` with the reason.
 */
export const PIN_STATES = ['queued', 'pinning', 'pinned', 'failed'] as const
export type PinState = typeof PIN_STATES[number]

/** A persisted pin: a DAG root held for one or more reasons (a reference count by reason). */
export interface PinRecord {
  /** `pinned` unless a hold still waits on blocks from the network (see {@link PinState}). */
  state: PinState
  /** Why the last attempt failed (state `failed`). */
  error?: string
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
  return prefixedKey(PREFIX.PIN, cid.bytes)
}

/** Adds a pin record to a batch, so the pin is written atomically with what it pins. */
export function pinInBatch (batch: WriteBatch, record: PinRecord): void {
  const value: Record<string, unknown> = { reasons: record.reasons, recursive: record.recursive }
  if (record.deep != null) value.deep = record.deep
  if (record.height != null) value.height = record.height
  // absent means pinned: records written before pin states existed read as pinned
  if (record.state !== 'pinned') value.state = record.state
  if (record.error != null) value.error = record.error
  batch.put(pinKey(record.cid), dagCbor.encode(value))
}

/** A state change for {@link holdInBatch}; without one the record keeps its state. */
export interface PinStatus {
  state: PinState
  error?: string
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
export function holdInBatch (batch: WriteBatch, read: PinReader | undefined, cid: CID, reason: PinReason, deep: boolean, height?: number, status?: PinStatus): void {
  const existing = read?.(cid)
  const reasons = new Set<PinReason>(existing?.reasons ?? [])
  reasons.add(reason)
  const deepReasons = new Set<PinReason>(existing != null ? deepOf(existing) : [])
  if (deep) deepReasons.add(reason)
  else deepReasons.delete(reason)
  const state = status?.state ?? existing?.state ?? 'pinned'
  const error = status != null ? status.error : existing?.error
  pinInBatch(batch, { cid, reasons: [...reasons], recursive: deepReasons.size > 0, deep: [...deepReasons], height: height ?? existing?.height, state, ...(error != null ? { error } : {}) })
}

/**
 * Drops `reason`'s hold on a root; the record goes when no reason is left.
 * With `settled` the holds left were written complete (the dropped one was
 * the hold waiting on the network), so the record is `pinned` again.
 */
export function releaseInBatch (batch: WriteBatch, read: PinReader | undefined, cid: CID, reason: PinReason, settled = false): void {
  const existing = read?.(cid)
  const reasons = (existing?.reasons ?? []).filter(r => r !== reason)
  if (reasons.length === 0) { batch.del(pinKey(cid)); return }
  const deep = deepOf(existing!).filter(r => r !== reason)
  const keep = !settled && existing!.error != null ? { error: existing!.error } : {}
  pinInBatch(batch, { cid, reasons, recursive: deep.length > 0, deep, ...(existing!.height != null ? { height: existing!.height } : {}), state: settled ? 'pinned' : existing!.state, ...keep })
}

/** Reads the pin record of a root, if any. */
export function readPin (db: ClassicLevel<Uint8Array, Uint8Array>, cid: CID): PinRecord | undefined {
  const bytes = db.getSync(pinKey(cid))
  return bytes == null ? undefined : decodePinValue(cid, bytes)
}

/** Decodes a stored pin record's value. */
export function decodePinValue (cid: CID, bytes: Uint8Array): PinRecord {
  let v: any
  try { v = dagCbor.decode<any>(bytes) } catch (err) { throw new CorruptDataError(`pin record of ${cid.toString()}: not dag-cbor`, { cause: err }) }
  if (v == null || !Array.isArray(v.reasons) || typeof v.recursive !== 'boolean') throw new CorruptDataError(`pin record of ${cid.toString()}: unexpected shape`)
  const state: PinState = v.state ?? 'pinned'
  if (!PIN_STATES.includes(state)) throw new CorruptDataError(`pin record of ${cid.toString()}: unknown state ${String(v.state)}`)
  return {
    cid,
    reasons: v.reasons,
    recursive: v.recursive,
    state,
    ...(typeof v.error === 'string' ? { error: v.error } : {}),
    ...(Array.isArray(v.deep) ? { deep: v.deep } : {}),
    ...(typeof v.height === 'number' ? { height: v.height } : {})
  }
}

/** Lists every pin record. */
export async function * listPins (db: ClassicLevel<Uint8Array, Uint8Array>, options: { signal?: AbortSignal } = {}): AsyncGenerator<PinRecord> {
  for await (const [key, value] of db.iterator(prefixRange(Uint8Array.of(PREFIX.PIN)))) {
    options.signal?.throwIfAborted()
    const cid = CID.decode(key.subarray(1))
    yield decodePinValue(cid, value)
  }
}
