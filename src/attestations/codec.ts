import { CID } from 'multiformats/cid'
import { COMMITMENT_NONCE_BYTES, HISTOGRAM_BINS, SCORE_MAX, SCORE_MIN } from './constants.ts'
import { CorruptAttestationError } from './errors.ts'
import type { BiometricCommitment, BucketAggregate } from './types.ts'

/** What a record's value holds (validator, timestamp and height are in its key). */
export interface RecordValue {
  score: number
  scores?: Record<string, number>
  commitment?: BiometricCommitment
  payload?: CID
}

const VERSION = 1
const HAS_COMMITMENT = 1
const HAS_PAYLOAD = 2
const HAS_SCORES = 4
const SCHEME_BYTE = { 'hmac-sha256': 1, 'salted-sha256': 2 } as const
const utf8 = new TextEncoder()
const text = new TextDecoder()

/** Encodes a record value: version, flags, score, then the optional parts (binary: ingest writes millions). */
export function encodeRecord (r: RecordValue): Uint8Array {
  let size = 2 + 8
  let flags = 0
  if (r.commitment != null) { flags |= HAS_COMMITMENT; size += 1 + 32 + 1 + (r.commitment.nonce?.length ?? 0) }
  if (r.payload != null) { flags |= HAS_PAYLOAD; size += 1 + r.payload.bytes.length }
  const dims = r.scores == null ? [] : Object.entries(r.scores).map(([n, v]) => [utf8.encode(n), v] as const)
  if (dims.length > 0) { flags |= HAS_SCORES; size += 1; for (const [n] of dims) size += 1 + n.length + 8 }
  const out = new Uint8Array(size)
  const view = new DataView(out.buffer)
  out[0] = VERSION
  out[1] = flags
  view.setFloat64(2, r.score)
  let o = 10
  if (r.commitment != null) {
    out[o++] = SCHEME_BYTE[r.commitment.scheme]
    out.set(r.commitment.digest, o); o += 32
    const nonce = r.commitment.nonce ?? new Uint8Array(0)
    out[o++] = nonce.length
    out.set(nonce, o); o += nonce.length
  }
  if (r.payload != null) {
    out[o++] = r.payload.bytes.length
    out.set(r.payload.bytes, o); o += r.payload.bytes.length
  }
  if (dims.length > 0) {
    out[o++] = dims.length
    for (const [n, v] of dims) {
      out[o++] = n.length
      out.set(n, o); o += n.length
      view.setFloat64(o, v); o += 8
    }
  }
  return out
}

/** Decodes a record value. */
export function decodeRecord (b: Uint8Array): RecordValue {
  try {
    if (b[0] !== VERSION) throw new Error(`version ${b[0]}`)
    const view = new DataView(b.buffer, b.byteOffset, b.byteLength)
    const flags = b[1]
    const r: RecordValue = { score: view.getFloat64(2) }
    let o = 10
    if ((flags & HAS_COMMITMENT) !== 0) {
      const scheme = b[o++] === 1 ? 'hmac-sha256' : 'salted-sha256'
      const digest = b.slice(o, o + 32); o += 32
      const n = b[o++]
      r.commitment = { scheme, digest }
      if (n > 0) { r.commitment.nonce = b.slice(o, o + n); o += n }
      if (scheme === 'hmac-sha256' && n !== COMMITMENT_NONCE_BYTES) throw new Error('hmac commitment without its nonce')
    }
    if ((flags & HAS_PAYLOAD) !== 0) {
      const n = b[o++]
      r.payload = CID.decode(b.slice(o, o + n)); o += n
    }
    if ((flags & HAS_SCORES) !== 0) {
      const count = b[o++]
      r.scores = {}
      for (let i = 0; i < count; i++) {
        const n = b[o++]
        const name = text.decode(b.subarray(o, o + n)); o += n
        r.scores[name] = view.getFloat64(o); o += 8
      }
    }
    if (o !== b.length) throw new Error(`${b.length - o} trailing bytes`)
    return r
  } catch (err) {
    throw new CorruptAttestationError(`attestation record does not decode: ${(err as Error).message}`, { cause: err })
  }
}

/** One bucket's running aggregate: count, sum, extremes and a fixed-bin histogram. */
export interface Agg {
  count: number
  sum: number
  min: number
  max: number
  hist: Uint32Array
}

/** An empty aggregate. */
export function emptyAgg (): Agg {
  return { count: 0, sum: 0, min: Infinity, max: -Infinity, hist: new Uint32Array(HISTOGRAM_BINS) }
}

/** The histogram bin of a score (SCORE_MAX falls in the last bin). */
export function binOf (score: number): number {
  const b = Math.floor((score - SCORE_MIN) / (SCORE_MAX - SCORE_MIN) * HISTOGRAM_BINS)
  return b >= HISTOGRAM_BINS ? HISTOGRAM_BINS - 1 : b < 0 ? 0 : b
}

/** Adds one score. */
export function addScore (a: Agg, score: number): void {
  a.count++
  a.sum += score
  if (score < a.min) a.min = score
  if (score > a.max) a.max = score
  a.hist[binOf(score)]++
}

/** Adds another aggregate into `a`. */
export function mergeAgg (a: Agg, b: Agg): void {
  a.count += b.count
  a.sum += b.sum
  if (b.min < a.min) a.min = b.min
  if (b.max > a.max) a.max = b.max
  for (let i = 0; i < HISTOGRAM_BINS; i++) a.hist[i] += b.hist[i]
}

/**
 * Removes scores from `a`; false when an extreme left (the removed set held
 * the bucket's min or max and values remain), so the bucket must be rebuilt
 * from its records to know its new extremes.
 */
export function subtractAgg (a: Agg, removed: Agg): boolean {
  a.count -= removed.count
  a.sum -= removed.sum
  for (let i = 0; i < HISTOGRAM_BINS; i++) a.hist[i] -= removed.hist[i]
  if (a.count <= 0) { a.count = 0; a.sum = 0; return true }
  return removed.min > a.min && removed.max < a.max
}

/** Encodes an aggregate: count, sum, min, max, then the non-empty bins. */
export function encodeAgg (a: Agg): Uint8Array {
  let bins = 0
  for (let i = 0; i < HISTOGRAM_BINS; i++) if (a.hist[i] !== 0) bins++
  const out = new Uint8Array(4 + 24 + 1 + bins * 5)
  const view = new DataView(out.buffer)
  view.setUint32(0, a.count)
  view.setFloat64(4, a.sum)
  view.setFloat64(12, a.min)
  view.setFloat64(20, a.max)
  out[28] = bins
  let o = 29
  for (let i = 0; i < HISTOGRAM_BINS; i++) {
    if (a.hist[i] === 0) continue
    out[o] = i
    view.setUint32(o + 1, a.hist[i])
    o += 5
  }
  return out
}

/** Decodes an aggregate. */
export function decodeAgg (b: Uint8Array): Agg {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength)
  const bins = b[28]
  if (b.length !== 29 + bins * 5) throw new CorruptAttestationError(`rollup value of ${b.length} bytes does not decode`)
  const a: Agg = { count: view.getUint32(0), sum: view.getFloat64(4), min: view.getFloat64(12), max: view.getFloat64(20), hist: new Uint32Array(HISTOGRAM_BINS) }
  for (let i = 0, o = 29; i < bins; i++, o += 5) a.hist[b[o]] = view.getUint32(o + 1)
  return a
}

/**
 * Nearest-rank percentile from the histogram: the midpoint of the bin that
 * holds rank ceil(p × count), clamped to the bucket's exact min and max.
 */
export function percentile (a: Agg, p: number): number {
  const rank = Math.max(1, Math.ceil(p * a.count))
  let seen = 0
  const width = (SCORE_MAX - SCORE_MIN) / HISTOGRAM_BINS
  for (let i = 0; i < HISTOGRAM_BINS; i++) {
    seen += a.hist[i]
    if (seen >= rank) return Math.min(a.max, Math.max(a.min, SCORE_MIN + (i + 0.5) * width))
  }
  return a.max
}

/** The public view of a bucket's aggregate. */
export function toBucket (bucket: number, a: Agg): BucketAggregate {
  return { bucket, count: a.count, mean: a.sum / a.count, min: a.min, max: a.max, p50: percentile(a, 0.5), p90: percentile(a, 0.9) }
}
