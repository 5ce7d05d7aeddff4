import { bases } from 'multiformats/basics'
import { CID } from 'multiformats/cid'

/**
 * What a trustless gateway request asks for, read from its path, query and
 * headers (https://specs.ipfs.tech/http-gateways/trustless-gateway/): the CID
 * in any multibase, the format from `?format=` or `Accept`, the CAR's
 * parameters (`car-version`/`car-order`/`car-dups` over `Accept`'s
 * `version`/`order`/`dups`), `dag-scope`, `entity-bytes` and
 * `Cache-Control: only-if-cached`. Every refusal is a {@link GatewayError}.
 */

/** A request the gateway refuses, with its HTTP status. */
export class GatewayError extends Error {
  readonly status: number
  constructor (status: number, name: string, message: string) {
    super(message)
    this.status = status
    this.name = name
  }
}

export const MEDIA_RAW = 'application/vnd.ipld.raw'
export const MEDIA_CAR = 'application/vnd.ipld.car'
/** The one CAR variant produced here: version 1, depth-first, each block once. */
export const CAR_SERVED = { version: '1', order: 'dfs', dups: 'n' } as const

export type Format = 'raw' | 'car'
export type Scope = 'block' | 'entity' | 'all'
type CarParam = keyof typeof CAR_SERVED

/** `entity-bytes=from:to` as asked: inclusive offsets, negative from the end, `to` null for `*`. */
export interface ByteRange { from: bigint, to: bigint | null }

/** Every multibase multiformats knows, by prefix (a code point: base256emoji's is 🚀). */
const BASES = new Map<string, { decode: (s: string) => Uint8Array }>(Object.values(bases).map(b => [b.prefix, b]))
/** Longer than any CID string worth reading (a sha2-256 CIDv1 in base2 is 289 characters). */
const MAX_CID_CHARS = 2048

/**
 * The CID of a path segment, in any multibase (as go-cid reads it for Kubo):
 * `Qm…` is a CIDv0, anything else is a multibase string whose bytes are a CID
 * (v1, or v0 bytes behind a multibase prefix). Anything else is a 400.
 */
export function parseGatewayCid (segment: string): CID {
  let s = segment
  try {
    s = decodeURIComponent(segment)
    if (s.length === 0 || s.length > MAX_CID_CHARS) throw new Error(`expected 1 to ${MAX_CID_CHARS} characters`)
    if (s.startsWith('Q')) return CID.parse(s)
    const base = BASES.get(String.fromCodePoint(s.codePointAt(0)!))
    if (base == null) throw new Error('no multibase has this prefix')
    return CID.decode(base.decode(s))
  } catch (err) {
    const e = new GatewayError(400, 'InvalidCidError', `gateway path: "${s.slice(0, 80)}" is not a valid CID`)
    e.cause = err
    throw e
  }
}

/** The response format and, when it came from `Accept`, where the same answer lives with `?format=` (for caches). */
export interface Negotiated {
  format: Format
  /** `Content-Location` to send: the URL with `format` (and the CAR parameters `Accept` named) in its query; null when `?format=` chose. */
  contentLocation: string | null
}

const MISSING = 'send ?format=raw|car or Accept: application/vnd.ipld.raw|application/vnd.ipld.car'

/**
 * The response format: `?format=` wins over `Accept` (path gateway spec); with
 * neither, or only `*` ranges, 400 (strict trustless mode); an Accept naming
 * only types we cannot produce (CAR version 2, HTML, ...) is 406, and so is a
 * CAR request whose `car-version` query parameter (which wins over the
 * `version` in `Accept`) is not 1. `car-order` and `car-dups` are read like
 * `order` and `dups` in `Accept`: any value is answered with the one variant
 * made here, which `Content-Type` names (`order=dfs; dups=n`).
 */
export function negotiate (url: URL, accept: string | undefined): Negotiated {
  const query = url.searchParams
  const format = query.get('format')
  // empty is absent, as in boxo
  const carVersion = query.get('car-version') === '' ? null : query.get('car-version')
  const acceptable = (version: string | null | undefined): boolean => version == null || version === CAR_SERVED.version
  if (format != null) {
    if (format !== 'raw' && format !== 'car') throw new GatewayError(400, 'UnsupportedFormat', `format=${format.slice(0, 40)} is not served here; this trustless gateway serves format=raw and format=car`)
    if (format === 'car' && !acceptable(carVersion)) throw notAcceptable(`car-version=${carVersion!.slice(0, 20)}`)
    return { format, contentLocation: null }
  }
  if (accept == null || accept.trim() === '') throw new GatewayError(400, 'MissingFormat', MISSING)
  let best: { format: Format, q: number, params: Partial<Record<CarParam, string>> } | undefined
  let onlyWildcards = true
  for (const range of accept.split(',')) {
    const [type, ...rest] = range.split(';').map(s => s.trim())
    const p: Record<string, string> = Object.fromEntries(rest.map(kv => { const i = kv.indexOf('='); return [kv.slice(0, i).trim().toLowerCase(), kv.slice(i + 1).trim().replace(/^"|"$/g, '')] }))
    const q = p.q != null ? Number(p.q) : 1
    const t = type.toLowerCase()
    if (t !== '*/*' && t !== 'application/*') onlyWildcards = false
    if (!(q > 0)) continue
    let f: Format | undefined
    if (t === MEDIA_RAW) f = 'raw'
    else if (t === MEDIA_CAR && acceptable(carVersion ?? p.version)) f = 'car'
    if (f != null && (best == null || q > best.q)) best = { format: f, q, params: { version: p.version, order: p.order, dups: p.dups } }
  }
  if (best == null) {
    if (onlyWildcards) throw new GatewayError(400, 'MissingFormat', MISSING)
    throw notAcceptable(accept.slice(0, 120) + (carVersion != null ? ` with car-version=${carVersion.slice(0, 20)}` : ''))
  }
  // the URL that would give this same answer: its own query, plus format and
  // the CAR parameters Accept named (as the values served), unless the query has them
  const located = new URLSearchParams(query)
  located.set('format', best.format)
  if (best.format === 'car') {
    for (const key of ['version', 'order', 'dups'] as const) {
      if (best.params[key] != null && !located.has(`car-${key}`)) located.set(`car-${key}`, CAR_SERVED[key])
    }
  }
  return { format: best.format, contentLocation: `${url.pathname}?${located.toString()}` }
}

function notAcceptable (what: string): GatewayError {
  return new GatewayError(406, 'NotAcceptable', `cannot produce ${what}; this gateway serves ${MEDIA_RAW} and ${MEDIA_CAR}; version=1`)
}

/**
 * `dag-scope` and `entity-bytes` of a CAR request. `entity-bytes` implies
 * `dag-scope=entity` when no scope is named; with `dag-scope=block` or `all`
 * the range narrows nothing (as boxo and @helia/verified-fetch read it), but a
 * malformed range is still a 400.
 */
export function parseScope (query: URLSearchParams): { scope: Scope, range?: ByteRange } {
  const bytes = query.get('entity-bytes')
  const range = bytes != null ? parseEntityBytes(bytes) : undefined
  const scope = query.get('dag-scope')
  if (scope == null) return range != null ? { scope: 'entity', range } : { scope: 'all' }
  if (scope === 'entity') return { scope, range }
  if (scope === 'block' || scope === 'all') return { scope }
  throw new GatewayError(400, 'InvalidDagScope', `dag-scope=${scope.slice(0, 40)}: expected block, entity or all`)
}

/** Offsets up to int64, as go's ParseInt reads them in boxo. */
const OFFSET = /^-?\d{1,19}$/
const INT64_MAX = 2n ** 63n - 1n

/**
 * `entity-bytes=from:to`: integers (negative counts from the end) and `*`
 * for the end; `from` after `to` when both count from the same end is a 400.
 */
export function parseEntityBytes (value: string): ByteRange {
  const bad = (why: string): GatewayError => new GatewayError(400, 'InvalidEntityBytes', `entity-bytes=${value.slice(0, 60)}: ${why}`)
  const parts = value.split(':')
  if (parts.length !== 2) throw bad('expected from:to (integers, negative from the end, to may be *)')
  const [a, b] = parts
  if (!OFFSET.test(a) || (b !== '*' && !OFFSET.test(b))) throw bad('expected from:to (integers, negative from the end, to may be *)')
  const from = BigInt(a)
  const to = b === '*' ? null : BigInt(b)
  if (from > INT64_MAX || from < -INT64_MAX || (to != null && (to > INT64_MAX || to < -INT64_MAX))) throw bad('offset out of range')
  if (to != null && (from >= 0n) === (to >= 0n) && from > to) throw bad("'from' is after 'to'")
  return { from, to }
}

/** The range as text for the Etag (normalized: `0:*`, `-100:-1`). */
export function rangeText (range: ByteRange): string {
  return `${range.from}:${range.to ?? '*'}`
}

/**
 * A range over an entity of `size` bytes: the inclusive offsets inside it it
 * covers, `whole` when it is the entity from its first byte to its end (an
 * empty file included), or a 400 when no byte of the entity is in it (the
 * gateway knows the size before it answers, so it says so instead of sending
 * the `dag-scope=block` CAR the spec allows for a streamed answer).
 */
export function resolveRange (range: ByteRange, size: bigint): { from: bigint, to: bigint } | 'whole' {
  const from = range.from < 0n ? (size + range.from > 0n ? size + range.from : 0n) : range.from
  if (range.to == null && from === 0n) return 'whole'
  const last = size - 1n
  const to = range.to == null ? last : range.to < 0n ? size + range.to : (range.to < last ? range.to : last)
  if (from > last || to < from) {
    throw new GatewayError(400, 'InvalidEntityBytes', `entity-bytes=${rangeText(range)} selects no byte of this ${size}-byte entity`)
  }
  return { from, to }
}

/** True when the request's `Cache-Control` carries `only-if-cached`. */
export function onlyIfCached (cacheControl: string | string[] | undefined): boolean {
  if (cacheControl == null) return false
  const value = Array.isArray(cacheControl) ? cacheControl.join(',') : cacheControl
  return value.split(',').some(d => d.trim().toLowerCase() === 'only-if-cached')
}
