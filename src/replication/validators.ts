import { ChainStoreError } from '../errors.ts'

/** Replicated state of one validator. */
export interface ValidatorState {
  /** Stake in the chain's smallest unit, as a decimal string. */
  stake: string
  status: 'active' | 'jailed' | 'exited'
  /** Milliseconds since the epoch the validator was last seen. */
  lastSeen: number
  /** Score aggregates over recent rounds. */
  score?: { count: number, mean: number, min: number, max: number }
}

export class InvalidValidatorStateError extends ChainStoreError {}

/** Checks a validator id and state; throws InvalidValidatorStateError naming the field. */
export function checkValidatorState (id: unknown, s: any): asserts s is ValidatorState {
  if (typeof id !== 'string' || !/^[A-Za-z0-9_.:-]{1,128}$/.test(id)) throw new InvalidValidatorStateError('validator id: expected 1-128 characters of [A-Za-z0-9_.:-]')
  if (s == null || typeof s !== 'object') throw new InvalidValidatorStateError(`validator ${id}: state must be an object`)
  if (typeof s.stake !== 'string' || !/^[0-9]{1,78}$/.test(s.stake)) throw new InvalidValidatorStateError(`validator ${id}: stake must be a decimal string`)
  if (!['active', 'jailed', 'exited'].includes(s.status)) throw new InvalidValidatorStateError(`validator ${id}: status must be active, jailed or exited`)
  if (!Number.isSafeInteger(s.lastSeen) || s.lastSeen < 0) throw new InvalidValidatorStateError(`validator ${id}: lastSeen must be a timestamp in ms`)
  if (s.score != null) {
    const sc = s.score
    if (typeof sc !== 'object' || ![sc.count, sc.mean, sc.min, sc.max].every(n => typeof n === 'number' && Number.isFinite(n))) throw new InvalidValidatorStateError(`validator ${id}: score must hold finite count, mean, min, max`)
  }
  const extra = Object.keys(s).filter(k => !['stake', 'status', 'lastSeen', 'score'].includes(k))
  if (extra.length > 0) throw new InvalidValidatorStateError(`validator ${id}: unknown fields ${extra.join(', ')}`)
}
