import { PREFIX, prefixedKey, readU64, u64Key, writeU64 } from '../storage/keys.ts'
import type { Resolution } from './types.ts'

/**
 * Key layout of the attestation room. A validator id (public, ASCII) is
 * written as one length byte and its bytes, so one validator's keys never
 * interleave with another's; numbers are 8 bytes big-endian.
 *
 * record   0x18 | v | timestamp | height        → record value
 * height   0x19 | v | height                    → timestamp
 * rollup   0x1a | resolution | scope | bucket   → rollup (scope: v, or empty for the network)
 * time     0x1b | timestamp | v | height        → (empty): retention sweeps walk it
 * keystore 0x1c | slot                          → wrapped data key
 * erasure  0x1d | v                             → erasedAt
 * registry 0x1e | v                             → record count
 * meta     0x1f | name                          → value
 */

const ascii = new TextEncoder()
const text = new TextDecoder()

/** Resolution byte of rollup keys. */
export const RESOLUTION_BYTE: Record<Resolution, number> = { round: 0, minute: 1, hour: 2, day: 3 }

function idBytes (validator: string): Uint8Array {
  return ascii.encode(validator)
}

function withId (prefix: number, validator: string, extra: number): { key: Uint8Array, at: number } {
  const id = idBytes(validator)
  const key = new Uint8Array(2 + id.length + extra)
  key[0] = prefix
  key[1] = id.length
  key.set(id, 2)
  return { key, at: 2 + id.length }
}

/** Record key of (validator, timestamp, height). */
export function recordKey (validator: string, timestamp: number, height: number): Uint8Array {
  const { key, at } = withId(PREFIX.ATTEST, validator, 16)
  writeU64(key, at, timestamp)
  writeU64(key, at + 8, height)
  return key
}

/** Prefix of one validator's records (and, with a timestamp, the first key at or after it). */
export function recordPrefix (validator: string, timestamp?: number): Uint8Array {
  const { key, at } = withId(PREFIX.ATTEST, validator, timestamp == null ? 0 : 8)
  if (timestamp != null) writeU64(key, at, timestamp)
  return key
}

/** Splits a record key into validator, timestamp and height. */
export function parseRecordKey (key: Uint8Array): { validator: string, timestamp: number, height: number } {
  const n = key[1]
  return { validator: text.decode(key.subarray(2, 2 + n)), timestamp: readU64(key, 2 + n), height: readU64(key, 10 + n) }
}

/** Height-index key of (validator, height). */
export function heightKey (validator: string, height: number): Uint8Array {
  const { key, at } = withId(PREFIX.ATTEST_HEIGHT, validator, 8)
  writeU64(key, at, height)
  return key
}

/** Height of a height-index key. */
export function heightOfKey (key: Uint8Array): number {
  return readU64(key, 2 + key[1])
}

/** Time-index key of (timestamp, validator, height). */
export function timeKey (timestamp: number, validator: string, height: number): Uint8Array {
  const id = idBytes(validator)
  const key = new Uint8Array(1 + 8 + 1 + id.length + 8)
  key[0] = PREFIX.ATTEST_TIME
  writeU64(key, 1, timestamp)
  key[9] = id.length
  key.set(id, 10)
  writeU64(key, 10 + id.length, height)
  return key
}

/** The first time-index key at `timestamp`. */
export function timeBound (timestamp: number): Uint8Array {
  return u64Key(PREFIX.ATTEST_TIME, timestamp)
}

/** Splits a time-index key. */
export function parseTimeKey (key: Uint8Array): { timestamp: number, validator: string, height: number } {
  const n = key[9]
  return { timestamp: readU64(key, 1), validator: text.decode(key.subarray(10, 10 + n)), height: readU64(key, 10 + n) }
}

/** Rollup key; `validator` undefined is the network-wide scope. */
export function rollupKey (resolution: Resolution, validator: string | undefined, bucket: number): Uint8Array {
  const key = rollupPrefix(resolution, validator, 8)
  writeU64(key, key.length - 8, bucket)
  return key
}

/** Prefix of one scope's rollups at one resolution (with `extra` zero bytes of room after it). */
export function rollupPrefix (resolution: Resolution, validator: string | undefined, extra = 0): Uint8Array {
  const id = validator == null ? new Uint8Array(0) : idBytes(validator)
  const key = new Uint8Array(3 + id.length + extra)
  key[0] = PREFIX.ATTEST_ROLLUP
  key[1] = RESOLUTION_BYTE[resolution]
  key[2] = id.length
  key.set(id, 3)
  return key
}

/** Bucket of a rollup key. */
export function bucketOfKey (key: Uint8Array): number {
  return readU64(key, key.length - 8)
}

/** Keystore key of a slot. */
export function keystoreKey (slot: string): Uint8Array {
  return prefixedKey(PREFIX.ATTEST_KEYS, ascii.encode(slot))
}

/** Keystore key of the master-key check value (no slot name starts with 0x00). */
export const KEYSTORE_CHECK_KEY = Uint8Array.of(PREFIX.ATTEST_KEYS, 0)

/** Erasure-record key of a validator. */
export function erasureKey (validator: string): Uint8Array {
  return withId(PREFIX.ATTEST_ERASED, validator, 0).key
}

/** Registry key of a validator. */
export function registryKey (validator: string): Uint8Array {
  return withId(PREFIX.ATTEST_VALIDATOR, validator, 0).key
}

/** Validator id of an erasure or registry key. */
export function validatorOfKey (key: Uint8Array): string {
  return text.decode(key.subarray(2, 2 + key[1]))
}

/** Meta key of a name. */
export function metaKey (name: string): Uint8Array {
  return prefixedKey(PREFIX.ATTEST_META, ascii.encode(name))
}

/** Key prefixes a backup must never copy: the wrapped data keys (see docs/PRIVACY.md). */
export const BACKUP_EXCLUDED_PREFIXES: readonly number[] = [PREFIX.ATTEST_KEYS]

/** True for a root-keyspace key a backup must leave out. */
export function isBackupExcluded (key: Uint8Array): boolean {
  return key.length > 0 && BACKUP_EXCLUDED_PREFIXES.includes(key[0])
}
