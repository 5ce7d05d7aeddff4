import { CID } from 'multiformats/cid'
import { describe } from './cid.ts'
import { InvalidAddressError, InvalidBlockError, InvalidHeightError } from './errors.ts'
import { bigintToBytes, fromHex } from './hex.ts'
import type { BlockInput, LogInput, ReceiptInput, TransactionInput } from './types.ts'

/** A transaction in its stored (dag-cbor) shape: bytes, not hex. */
export interface StoredTx {
  from: Uint8Array
  to: Uint8Array | null
  nonce: number
  value: Uint8Array
  gas: number
  gasPrice: Uint8Array
  data: Uint8Array
  sig: Uint8Array
}

/** A log in its stored shape. */
export interface StoredLog {
  address: Uint8Array
  topics: Uint8Array[]
  data: Uint8Array
}

/** A receipt in its stored shape. */
export interface StoredReceipt {
  status: 0 | 1
  gasUsed: number
  logs: StoredLog[]
}

/** Most topics one log may carry (as in the EVM). */
export const MAX_TOPICS = 4

function fail (path: string, expected: string, got: unknown): never {
  throw new InvalidBlockError(`${path}: expected ${expected}, got ${describe(got)}`)
}

/** A non-negative safe integer, or InvalidHeightError naming what was given. */
export function assertHeight (height: unknown, what = 'height'): number {
  if (!isUint(height)) {
    throw new InvalidHeightError(`${what}: expected a non-negative integer, got ${describe(height)}`)
  }
  return height
}

/** 20 address bytes from a 0x-hex string, or InvalidAddressError. */
export function parseAddress (input: unknown, what = 'address'): Uint8Array {
  const bytes = typeof input === 'string' && input.length === 42 ? fromHex(input) : undefined
  if (bytes == null) throw new InvalidAddressError(`${what}: expected a 0x-prefixed 20-byte hex address, got ${describe(input)}`)
  return bytes
}

function address (input: unknown, path: string): Uint8Array {
  try {
    return parseAddress(input, path)
  } catch (err) {
    throw new InvalidBlockError((err as Error).message, { cause: err })
  }
}

/** A non-negative safe integer. */
export function isUint (v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
}

/** Quantities (value, gas price) are below this: 32 bytes at most. */
export const QUANTITY_LIMIT = 1n << 256n

function uint (input: unknown, path: string): number {
  if (!isUint(input)) fail(path, 'a non-negative integer', input)
  return input
}

function bytes (input: unknown, path: string, exactLength?: number): Uint8Array {
  let out: Uint8Array | undefined
  if (input == null) out = new Uint8Array(0)
  else if (input instanceof Uint8Array) out = input
  else if (typeof input === 'string') out = fromHex(input)
  if (out == null) fail(path, 'bytes or 0x-hex', input)
  if (exactLength != null && out.length !== exactLength) fail(path, `${exactLength} bytes`, out)
  return out
}

function quantity (input: unknown, path: string): Uint8Array {
  let n: bigint | undefined
  try {
    if (typeof input === 'bigint') n = input
    else if (typeof input === 'number' && Number.isSafeInteger(input)) n = BigInt(input)
    else if (typeof input === 'string' && /^(0x[0-9a-fA-F]+|[0-9]+)$/.test(input)) n = BigInt(input)
  } catch {}
  if (n == null || n < 0n || n >= QUANTITY_LIMIT) fail(path, 'a non-negative integer below 2^256 (bigint, number or string)', input)
  return bigintToBytes(n)
}

function object (input: unknown, path: string): Record<string, unknown> {
  if (input == null || typeof input !== 'object' || Array.isArray(input) || input instanceof Uint8Array) fail(path, 'an object', input)
  return input as Record<string, unknown>
}

/** Validates one transaction and returns its stored shape. */
export function normalizeTx (input: TransactionInput, path: string): StoredTx {
  const tx = object(input, path)
  return {
    from: address(tx.from, `${path}.from`),
    to: tx.to === null ? null : address(tx.to, `${path}.to`),
    nonce: uint(tx.nonce, `${path}.nonce`),
    value: quantity(tx.value, `${path}.value`),
    gas: uint(tx.gasLimit, `${path}.gasLimit`),
    gasPrice: quantity(tx.gasPrice, `${path}.gasPrice`),
    data: bytes(tx.data, `${path}.data`),
    sig: bytes(tx.signature, `${path}.signature`)
  }
}

function normalizeLog (input: LogInput, path: string): StoredLog {
  const log = object(input, path)
  if (!Array.isArray(log.topics)) fail(`${path}.topics`, 'an array', log.topics)
  if (log.topics.length > MAX_TOPICS) fail(`${path}.topics`, `at most ${MAX_TOPICS} topics`, log.topics)
  return {
    address: address(log.address, `${path}.address`),
    topics: log.topics.map((t, i) => bytes(t, `${path}.topics[${i}]`, 32)),
    data: bytes(log.data, `${path}.data`)
  }
}

/** Validates one receipt and returns its stored shape. */
export function normalizeReceipt (input: ReceiptInput, path: string): StoredReceipt {
  const r = object(input, path)
  if (r.status !== 0 && r.status !== 1) fail(`${path}.status`, '0 or 1', r.status)
  const logs = r.logs ?? []
  if (!Array.isArray(logs)) fail(`${path}.logs`, 'an array', logs)
  return {
    status: r.status,
    gasUsed: uint(r.gasUsed, `${path}.gasUsed`),
    logs: logs.map((l, i) => normalizeLog(l, `${path}.logs[${i}]`))
  }
}

/** The header fields of a block input, validated. */
export interface NormalizedHeaderFields {
  height: number
  parent: CID | null
  timestamp: number
  proposer: Uint8Array
  stateRoot: Uint8Array
}

/** Validates the header fields of a block input (transactions are checked while encoding). */
export function normalizeHeaderFields (input: BlockInput): NormalizedHeaderFields {
  const b = object(input, 'block')
  let height: number
  try {
    height = assertHeight(b.height, 'block.height')
  } catch (err) {
    throw new InvalidBlockError((err as Error).message, { cause: err })
  }
  let parent: CID | null = null
  if (b.parent != null) {
    const asCid = CID.asCID(b.parent)
    // DAG-JSON writes a link as { "/": "<cid>" }; accept it so JSON block files round-trip
    const link = typeof b.parent === 'object' && typeof (b.parent as any)['/'] === 'string' ? (b.parent as any)['/'] as string : b.parent
    if (asCid != null) parent = asCid
    else if (typeof link === 'string') {
      try { parent = CID.parse(link) } catch (err) { throw new InvalidBlockError(`block.parent: "${link.slice(0, 80)}" is not a valid CID`, { cause: err }) }
    } else fail('block.parent', 'a CID, CID string, {"/": CID string} or null', b.parent)
  }
  if (height === 0 && parent != null) fail('block.parent', 'null at height 0', b.parent)
  if (height > 0 && parent == null) fail('block.parent', 'the parent CID (only height 0 has none)', b.parent)
  if (!Array.isArray(b.transactions)) fail('block.transactions', 'an array', b.transactions)
  if (b.receipts != null) {
    if (!Array.isArray(b.receipts)) fail('block.receipts', 'an array', b.receipts)
    if (b.receipts.length !== b.transactions.length) {
      throw new InvalidBlockError(`block.receipts: expected one receipt per transaction (${b.transactions.length}), got ${b.receipts.length}`)
    }
  }
  return {
    height,
    parent,
    timestamp: uint(b.timestamp, 'block.timestamp'),
    proposer: address(b.proposer, 'block.proposer'),
    stateRoot: bytes(b.stateRoot, 'block.stateRoot', 32)
  }
}
