import * as dagCbor from '@ipld/dag-cbor'
import { describe } from '../codec/cid.ts'
import { ACCOUNT_VERSION, STATE_KEY_BYTES } from './constants.ts'
import { CorruptStateError, InvalidAccountError, InvalidStateKeyError } from './errors.ts'
import { VALIDATOR_STATUSES, type AccountState, type ScoreAggregate } from './types.ts'

/** An account with nothing in it: zero balance and stake, not a validator, no scores. */
export function emptyAccount (): AccountState {
  return { balance: 0n, nonce: 0, stake: 0n, validator: 'none', score: { count: 0, sum: 0, min: 0, max: 0 } }
}

/** Folds one score into an aggregate (returns a new aggregate). */
export function addScore (agg: ScoreAggregate, score: number): ScoreAggregate {
  if (!Number.isFinite(score)) throw new InvalidAccountError(`score: expected a finite number, got ${describe(score)}`)
  if (agg.count === 0) return { count: 1, sum: score, min: score, max: score }
  return { count: agg.count + 1, sum: agg.sum + score, min: Math.min(agg.min, score), max: Math.max(agg.max, score) }
}

/** Checks a state key: STATE_KEY_BYTES bytes. */
export function checkKey (key: unknown): Uint8Array {
  if (!(key instanceof Uint8Array) || key.length !== STATE_KEY_BYTES) {
    throw new InvalidStateKeyError(`state key: expected ${STATE_KEY_BYTES} bytes, got ${describe(key)}`)
  }
  return key
}

/**
 * Encodes an account record deterministically: dag-cbor of
 * [version, balance, nonce, stake, status, count, sum, min, max], with the
 * big integers as minimal big-endian bytes (dag-cbor has no integers past 64 bits).
 */
export function encodeAccount (a: AccountState): Uint8Array {
  checkAccount(a)
  const s = a.score
  return dagCbor.encode([ACCOUNT_VERSION, bigToBytes(a.balance), a.nonce, bigToBytes(a.stake), VALIDATOR_STATUSES.indexOf(a.validator), s.count, s.sum, s.min, s.max])
}

/** Decodes an account record; CorruptStateError when the bytes are not one this module wrote. */
export function decodeAccount (bytes: Uint8Array): AccountState {
  let v: unknown
  try {
    v = dagCbor.decode(bytes)
  } catch (err) {
    throw new CorruptStateError(`account record of ${bytes.length} bytes does not decode: ${(err as Error).message}`, { cause: err })
  }
  if (!Array.isArray(v) || v.length !== 9 || v[0] !== ACCOUNT_VERSION) throw new CorruptStateError('account record: unexpected shape or version')
  const [, balance, nonce, stake, status, count, sum, min, max] = v
  if (!(balance instanceof Uint8Array) || !(stake instanceof Uint8Array) || typeof status !== 'number' || VALIDATOR_STATUSES[status] == null) {
    throw new CorruptStateError('account record: bad balance, stake or status')
  }
  const account: AccountState = { balance: bytesToBig(balance), nonce, stake: bytesToBig(stake), validator: VALIDATOR_STATUSES[status], score: { count, sum, min, max } }
  try {
    checkAccount(account)
  } catch (err) {
    throw new CorruptStateError(`account record: ${(err as Error).message}`, { cause: err })
  }
  return account
}

function checkAccount (a: AccountState): void {
  if (a == null || typeof a !== 'object') throw new InvalidAccountError(`account: expected an object, got ${describe(a)}`)
  if (typeof a.balance !== 'bigint' || a.balance < 0n) throw new InvalidAccountError(`balance: expected a non-negative bigint, got ${describe(a.balance)}`)
  if (typeof a.stake !== 'bigint' || a.stake < 0n) throw new InvalidAccountError(`stake: expected a non-negative bigint, got ${describe(a.stake)}`)
  if (!Number.isSafeInteger(a.nonce) || a.nonce < 0) throw new InvalidAccountError(`nonce: expected a non-negative safe integer, got ${describe(a.nonce)}`)
  if (!VALIDATOR_STATUSES.includes(a.validator)) throw new InvalidAccountError(`validator: expected one of ${VALIDATOR_STATUSES.join(', ')}, got ${describe(a.validator)}`)
  const s = a.score
  if (s == null || typeof s !== 'object') throw new InvalidAccountError(`score: expected {count,sum,min,max}, got ${describe(s)}`)
  if (!Number.isSafeInteger(s.count) || s.count < 0) throw new InvalidAccountError(`score.count: expected a non-negative safe integer, got ${describe(s.count)}`)
  for (const f of ['sum', 'min', 'max'] as const) {
    if (typeof s[f] !== 'number' || !Number.isFinite(s[f])) throw new InvalidAccountError(`score.${f}: expected a finite number, got ${describe(s[f])}`)
  }
  if (s.count === 0 && (s.sum !== 0 || s.min !== 0 || s.max !== 0)) throw new InvalidAccountError('score: an empty aggregate has sum, min and max 0')
  if (s.count > 0 && s.min > s.max) throw new InvalidAccountError(`score: min ${s.min} above max ${s.max}`)
}

function bigToBytes (n: bigint): Uint8Array {
  if (n === 0n) return new Uint8Array(0)
  const hex = n.toString(16)
  return Uint8Array.from(Buffer.from(hex.length % 2 === 0 ? hex : '0' + hex, 'hex'))
}

function bytesToBig (b: Uint8Array): bigint {
  if (b.length === 0) return 0n
  // a leading zero would give a second encoding of the same number
  if (b[0] === 0) throw new CorruptStateError('account record: big integer with a leading zero byte')
  return BigInt('0x' + Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex'))
}
