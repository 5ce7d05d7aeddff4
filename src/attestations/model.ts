import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import * as dagCbor from '@ipld/dag-cbor'
import {
  ATTESTATION_FIELDS, COMMITMENT_FIELDS, COMMITMENT_NONCE_BYTES, COMMITMENT_SCHEMES, MAX_INGEST_BATCH, MAX_PAYLOAD_BYTES,
  MAX_SCORE_DIMENSIONS, MIN_SECRET_BYTES, RAW_BIOMETRIC_FIELDS, SCORE_MAX, SCORE_MIN, SECRET_FIELDS
} from './constants.ts'
import { CommitmentSecretFieldError, InvalidAttestationError, RawBiometricFieldError, UnknownFieldError } from './errors.ts'
import type { AttestationRecord, BiometricCommitment, CommitmentScheme, PrivatePayload, RetentionPolicy } from './types.ts'
import { InvalidQueryError } from '../storage/errors.ts'

const VALIDATOR_ID = /^[A-Za-z0-9._:-]{1,128}$/
const DIMENSION = /^[a-z][a-z0-9_]{0,31}$/
/** Framing byte of a payload's plaintext: opaque bytes or a dag-cbor object. */
const PAYLOAD_BYTES = 0
const PAYLOAD_CBOR = 1
/** Ciphertext overhead of a sealed payload (header and tag, see keystore.ts). */
const SEAL_OVERHEAD = 1 + 8 + 12 + 16
const MAX_PAYLOAD_DEPTH = 16

const normalise = (name: string): string => name.toLowerCase().replace(/[_-]/g, '')
const RAW = new Set<string>(RAW_BIOMETRIC_FIELDS.map(normalise))
const SECRET = new Set<string>(SECRET_FIELDS.map(normalise))

/** An attestation after validation: every field checked, the payload framed for sealing. */
export interface ValidAttestation extends Omit<AttestationRecord, 'payload'> {
  /** Framed plaintext (local ingest). */
  payload?: Uint8Array
  /** Sealed bytes (replicated attestations). */
  sealedPayload?: Uint8Array
}

/**
 * Commits to a biometric sample. `hmac-sha256`: HMAC-SHA-256 under the
 * validator's secret over a fresh random nonce and the sample. `salted-sha256`:
 * SHA-256 over the validator's salt and the sample. Either way the secret or
 * salt stays with the validator: samples have little entropy, and anyone
 * holding it could test guesses.
 */
export function commitSample (sample: Uint8Array, secret: Uint8Array, scheme: CommitmentScheme = 'hmac-sha256'): BiometricCommitment {
  checkSecret(secret)
  if (scheme === 'hmac-sha256') {
    const nonce = new Uint8Array(randomBytes(COMMITMENT_NONCE_BYTES))
    return { scheme, digest: hmacDigest(secret, nonce, sample), nonce }
  }
  if (scheme === 'salted-sha256') return { scheme, digest: saltedDigest(secret, sample) }
  throw new InvalidAttestationError('commitment.scheme', `expected one of ${COMMITMENT_SCHEMES.join(', ')}`)
}

/** True when `sample` is the sample `commitment` was made to under this secret (or salt); constant time in the digest. */
export function verifyCommitment (sample: Uint8Array, secret: Uint8Array, commitment: BiometricCommitment): boolean {
  checkSecret(secret)
  const c = checkCommitment(commitment, 'commitment')
  const expected = c.scheme === 'hmac-sha256' ? hmacDigest(secret, c.nonce!, sample) : saltedDigest(secret, sample)
  return timingSafeEqual(expected, c.digest)
}

function hmacDigest (secret: Uint8Array, nonce: Uint8Array, sample: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac('sha256', secret).update(nonce).update(sample).digest())
}

function saltedDigest (salt: Uint8Array, sample: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(salt).update(sample).digest())
}

function checkSecret (secret: Uint8Array): void {
  if (!(secret instanceof Uint8Array) || secret.length < MIN_SECRET_BYTES) throw new InvalidAttestationError('secret', `expected at least ${MIN_SECRET_BYTES} bytes`)
}

/** Throws when a field name is a raw biometric or a secret field. */
function refuseName (name: string, path: string): void {
  const n = normalise(name)
  if (RAW.has(n)) throw new RawBiometricFieldError(path, 'raw biometric data is refused: submit a commitment (commitSample) instead')
  if (SECRET.has(n)) throw new CommitmentSecretFieldError(path, 'commitment secrets and salts stay with the validator')
}

function isPlainObject (v: unknown): v is Record<string, unknown> {
  if (v == null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) return false
  const proto = Object.getPrototypeOf(v)
  return proto === Object.prototype || proto === null
}

/** Refuses raw and secret names first (so the error names them), then unknown ones. */
function checkFields (obj: Record<string, unknown>, allowed: readonly string[], path: string): void {
  const keys = Object.keys(obj)
  for (const k of keys) refuseName(k, `${path}.${k}`)
  for (const k of keys) if (!allowed.includes(k)) throw new UnknownFieldError(`${path}.${k}`, `unknown field (allowed: ${allowed.join(', ')})`)
}

/** Checks a public validator id. */
export function checkValidatorId (v: unknown, field = 'validator'): string {
  if (typeof v !== 'string' || !VALIDATOR_ID.test(v)) throw new InvalidAttestationError(field, `expected 1-128 characters of [A-Za-z0-9._:-], got ${describe(v)}`)
  return v
}

function checkInt (v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new InvalidAttestationError(field, `expected a non-negative safe integer, got ${describe(v)}`)
  return v
}

function checkScore (v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < SCORE_MIN || v > SCORE_MAX) throw new InvalidAttestationError(field, `expected a number from ${SCORE_MIN} to ${SCORE_MAX}, got ${describe(v)}`)
  return v
}

function checkScores (v: unknown, field: string): Record<string, number> {
  if (!isPlainObject(v)) throw new InvalidAttestationError(field, `expected an object of named scores, got ${describe(v)}`)
  const names = Object.keys(v)
  for (const n of names) refuseName(n, `${field}.${n}`)
  if (names.length === 0 || names.length > MAX_SCORE_DIMENSIONS) throw new InvalidAttestationError(field, `expected 1-${MAX_SCORE_DIMENSIONS} dimensions, got ${names.length}`)
  const out: Record<string, number> = {}
  for (const n of names.sort()) {
    if (!DIMENSION.test(n)) throw new InvalidAttestationError(`${field}.${n}`, 'dimension names are 1-32 characters of [a-z0-9_] starting with a letter')
    out[n] = checkScore(v[n], `${field}.${n}`)
  }
  return out
}

/** Checks a commitment's shape: scheme, 32-byte digest, nonce for HMAC only. */
export function checkCommitment (v: unknown, field: string): BiometricCommitment {
  if (!isPlainObject(v)) throw new InvalidAttestationError(field, `expected { scheme, digest, nonce? }, got ${describe(v)}`)
  checkFields(v, COMMITMENT_FIELDS, field)
  if (!(COMMITMENT_SCHEMES as readonly unknown[]).includes(v.scheme)) throw new InvalidAttestationError(`${field}.scheme`, `expected one of ${COMMITMENT_SCHEMES.join(', ')}, got ${describe(v.scheme)}`)
  const scheme = v.scheme as CommitmentScheme
  if (!(v.digest instanceof Uint8Array) || v.digest.length !== 32) throw new InvalidAttestationError(`${field}.digest`, `expected 32 bytes, got ${describe(v.digest)}`)
  if (scheme === 'hmac-sha256') {
    if (!(v.nonce instanceof Uint8Array) || v.nonce.length !== COMMITMENT_NONCE_BYTES) throw new InvalidAttestationError(`${field}.nonce`, `expected ${COMMITMENT_NONCE_BYTES} bytes, got ${describe(v.nonce)}`)
    return { scheme, digest: Uint8Array.from(v.digest), nonce: Uint8Array.from(v.nonce) }
  }
  if (v.nonce !== undefined) throw new InvalidAttestationError(`${field}.nonce`, 'salted-sha256 commitments carry no nonce (the salt stays with the validator)')
  return { scheme, digest: Uint8Array.from(v.digest) }
}

/** Walks a structured payload: raw biometric and secret names are refused at any depth. */
function checkPayloadTree (v: unknown, path: string, depth: number): void {
  if (depth > MAX_PAYLOAD_DEPTH) throw new InvalidAttestationError(path, `nested deeper than ${MAX_PAYLOAD_DEPTH} levels`)
  if (Array.isArray(v)) { v.forEach((x, i) => { checkPayloadTree(x, `${path}[${i}]`, depth + 1) }); return }
  if (isPlainObject(v)) for (const [k, x] of Object.entries(v)) { refuseName(k, `${path}.${k}`); checkPayloadTree(x, `${path}.${k}`, depth + 1) }
}

/** Frames a payload for sealing: opaque bytes as they are, objects as dag-cbor. */
function framePayload (v: unknown, field: string): Uint8Array {
  let body: Uint8Array
  let tag: number
  if (v instanceof Uint8Array) {
    body = v
    tag = PAYLOAD_BYTES
  } else if (isPlainObject(v)) {
    checkPayloadTree(v, field, 0)
    try { body = dagCbor.encode(v) } catch (err) { throw new InvalidAttestationError(field, `not dag-cbor encodable: ${(err as Error).message}`, { cause: err }) }
    tag = PAYLOAD_CBOR
  } else throw new InvalidAttestationError(field, `expected bytes or a plain object, got ${describe(v)}`)
  if (body.length > MAX_PAYLOAD_BYTES) throw new InvalidAttestationError(field, `${body.length} bytes exceeds ${MAX_PAYLOAD_BYTES}`)
  const out = new Uint8Array(body.length + 1)
  out[0] = tag
  out.set(body, 1)
  return out
}

/** Reverses framePayload. */
export function unframePayload (framed: Uint8Array): PrivatePayload {
  if (framed[0] === PAYLOAD_CBOR) return dagCbor.decode<Record<string, unknown>>(framed.subarray(1))
  return framed.slice(1)
}

function checkCommon (input: unknown, path: string, allowed: readonly string[], now: number, maxSkewMs: number): { obj: Record<string, unknown>, base: ValidAttestation } {
  if (!isPlainObject(input)) throw new InvalidAttestationError(path, `expected an object, got ${describe(input)}`)
  checkFields(input, allowed, path)
  const validator = checkValidatorId(input.validator, `${path}.validator`)
  const height = checkInt(input.height, `${path}.height`)
  const timestamp = checkInt(input.timestamp, `${path}.timestamp`)
  if (timestamp > now + maxSkewMs) throw new InvalidAttestationError(`${path}.timestamp`, `${timestamp} is more than ${maxSkewMs} ms ahead of this node's clock (${now})`)
  const score = checkScore(input.score, `${path}.score`)
  const base: ValidAttestation = { validator, height, timestamp, score }
  if (input.scores !== undefined) base.scores = checkScores(input.scores, `${path}.scores`)
  return { obj: input, base }
}

/** Validates a locally submitted attestation; `path` prefixes field names in errors (e.g. `attestations[3]`). */
export function validateAttestation (input: unknown, now: number, maxSkewMs: number, path = 'attestation'): ValidAttestation {
  const { obj, base } = checkCommon(input, path, ATTESTATION_FIELDS, now, maxSkewMs)
  if (obj.commitment === undefined) throw new InvalidAttestationError(`${path}.commitment`, 'required: a commitment to the round\'s biometric sample (commitSample)')
  base.commitment = checkCommitment(obj.commitment, `${path}.commitment`)
  if (obj.payload !== undefined) base.payload = framePayload(obj.payload, `${path}.payload`)
  return base
}

const WIRE_FIELDS = ['validator', 'height', 'timestamp', 'score', 'scores', 'commitment', 'sealedPayload'] as const

/** Validates a replicated attestation: a commitment may have been swept already, the payload arrives sealed. */
export function validateWire (input: unknown, now: number, maxSkewMs: number, path = 'attestation'): ValidAttestation {
  const { obj, base } = checkCommon(input, path, WIRE_FIELDS, now, maxSkewMs)
  if (obj.commitment !== undefined) base.commitment = checkCommitment(obj.commitment, `${path}.commitment`)
  if (obj.sealedPayload !== undefined) {
    const s = obj.sealedPayload
    if (!(s instanceof Uint8Array) || s.length < SEAL_OVERHEAD || s.length > MAX_PAYLOAD_BYTES + 1 + SEAL_OVERHEAD) throw new InvalidAttestationError(`${path}.sealedPayload`, `expected ${SEAL_OVERHEAD}-${MAX_PAYLOAD_BYTES + 1 + SEAL_OVERHEAD} bytes, got ${describe(s)}`)
    base.sealedPayload = Uint8Array.from(s)
  }
  return base
}

/** Short description of a value for error messages (never its content). */
function describe (v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  if (v instanceof Uint8Array) return `${v.length} bytes`
  if (typeof v === 'string') return `a string of ${v.length} characters`
  if (typeof v === 'number') return String(v)
  return typeof v
}

/** A retention policy with every field a positive number of milliseconds, or InvalidQueryError. */
export function checkRetention (r: RetentionPolicy): RetentionPolicy {
  for (const k of ['scoresMs', 'commitmentsMs', 'payloadMs'] as const) {
    if (r == null || !Number.isSafeInteger(r[k]) || r[k] <= 0) throw new InvalidQueryError(`retention.${k}: expected a positive number of milliseconds, got ${String(r?.[k])}`)
  }
  return { scoresMs: r.scoresMs, commitmentsMs: r.commitmentsMs, payloadMs: r.payloadMs }
}

/** An array of at most MAX_INGEST_BATCH items, or InvalidQueryError. */
export function checkBatchSize (items: unknown, what: string): void {
  if (!Array.isArray(items)) throw new InvalidQueryError(`${what}: expected an array`)
  if (items.length > MAX_INGEST_BATCH) throw new InvalidQueryError(`${what}: ${items.length} attestations exceeds ${MAX_INGEST_BATCH} per batch`)
}
