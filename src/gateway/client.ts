import { CarBlockIterator } from '@ipld/car/iterator'
import { equals } from 'uint8arrays/equals'
import type { CID } from 'multiformats/cid'
import { bytesMatchCid, IDENTITY, isVerifiableHash } from '../codec/cid.ts'
import { linksOf } from '../codec/links.ts'
import { ChainStoreError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import type { KvStore } from '../storage/kv.ts'

/** No configured gateway returned verified bytes for a CID. */
export class GatewayFetchError extends ChainStoreError {
  /** What each gateway did, in the order asked. */
  readonly attempts: GatewayAttempt[]
  constructor (message: string, attempts: GatewayAttempt[]) {
    super(message)
    this.attempts = attempts
  }
}

/**
 * A CID whose hash function chainstore cannot compute (sha2-512, blake3, …)
 * or an identity CID: no gateway's answer could be verified, so none is asked
 * and no gateway is scored for it.
 */
export class UnverifiableCidError extends ChainStoreError {
  readonly cid: string
  constructor (cid: CID, options?: { cause?: unknown }) {
    super(cid.multihash.code === IDENTITY
      ? `${cid.toString()} is an identity CID: its bytes are inside the CID, no gateway is asked for them`
      : `cannot verify ${cid.toString()}: multihash 0x${cid.multihash.code.toString(16)} is not one chainstore hashes (sha2-256, keccak-256), so no gateway is asked for it`, options)
    this.cid = cid.toString()
  }
}

/** One gateway's answer to one request. */
export interface GatewayAttempt {
  gateway: string
  /**
   * `encoded`: a `Content-Encoding` we did not accept (we ask for identity, so
   * a compressed body cannot expand past the byte limit after it was checked);
   * `unverifiable`: the answer holds a block whose hash we cannot compute
   * (nobody is scored for it).
   */
  outcome: 'ok' | 'not-found' | 'http-error' | 'wrong-bytes' | 'too-large' | 'encoded' | 'timeout' | 'stalled' | 'network-error' | 'unverifiable'
  ms: number
}

/** A gateway's persisted record. */
export interface GatewayScore {
  ok: number
  failed: number
  /** Answers that were provably wrong (bytes not matching the CID, blocks outside the DAG, oversized, encoded against our Accept-Encoding). */
  lied: number
  /** Milliseconds since the epoch of the last answer. */
  at: number
}

export interface GatewayClientOptions {
  /** Base URLs (`https://host[:port]`), in preference order before scores exist. */
  gateways: string[]
  /** Whole-request limit per gateway. */
  timeoutMs: number
  /** Longest wait for the next chunk of a body before the gateway counts as stalled. */
  stallMs: number
  /** Largest body accepted (a block is never larger than the store's block limit). */
  maxBytes: number
  /** Largest CAR body accepted for a whole DAG. */
  maxCarBytes: number
  /** Where scores persist across restarts. */
  scores: KvStore<GatewayScore>
  logger: Logger
  /** Counts each attempt (metrics hook). */
  onAttempt?: (attempt: GatewayAttempt) => void
}

/** Weight of a provably wrong answer against good ones when ordering gateways. */
const LIE_WEIGHT = 20

function rank (s: GatewayScore | undefined): number {
  if (s == null) return 0.5
  return (s.ok + 1) / (s.ok + 1 + s.failed + LIE_WEIGHT * s.lied + 1)
}

/**
 * Reads blocks from IPFS trustless gateways (`GET /ipfs/{cid}?format=raw`,
 * `Accept: application/vnd.ipld.raw`) and returns bytes only after hashing
 * them against the CID. A gateway that answers wrong bytes, too many bytes,
 * stalls or times out is skipped for the next one and loses score; scores
 * persist in a kv namespace, so a lying gateway stays last after a restart.
 *
 * Written here rather than taken from @helia/block-brokers because the store
 * needs persisted scores, a byte limit enforced while streaming, a stall
 * timeout, and a per-attempt record for metrics and errors.
 */
export class GatewayClient {
  readonly #opts: GatewayClientOptions
  readonly #log: Logger
  #scores = new Map<string, GatewayScore>()
  #loaded = false

  constructor (options: GatewayClientOptions) {
    this.#opts = options
    this.#log = options.logger.child({ room: 'gateway' })
    for (const g of options.gateways) new URL(g) // throws on a malformed base URL
  }

  async #load (): Promise<void> {
    if (this.#loaded) return
    const values = await this.#opts.scores.getMany(this.#opts.gateways)
    this.#opts.gateways.forEach((g, i) => { if (values[i] != null) this.#scores.set(g, values[i]!) })
    this.#loaded = true
  }

  /** Gateways best first: by score, configured order breaking ties. */
  async order (): Promise<string[]> {
    await this.#load()
    return this.#opts.gateways.map((g, i) => ({ g, i, r: rank(this.#scores.get(g)) }))
      .sort((a, b) => b.r - a.r || a.i - b.i).map(x => x.g)
  }

  /** Scores as persisted. */
  async scores (): Promise<Record<string, GatewayScore>> {
    await this.#load()
    return Object.fromEntries(this.#opts.gateways.map(g => [g, this.#scores.get(g) ?? { ok: 0, failed: 0, lied: 0, at: 0 }]))
  }

  /** The verified bytes of one block, from the first gateway that has them. */
  async fetchBlock (cid: CID, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    assertVerifiable(cid)
    return await this.#fromAny(cid, options.signal, async (gateway, signal) => {
      const r = await this.#try(gateway, `/ipfs/${cid.toString()}?format=raw`, 'application/vnd.ipld.raw', this.#opts.maxBytes, signal)
      if (r.outcome !== 'ok') return r
      return bytesMatchCid(cid, r.bytes!) ? { outcome: 'ok', value: r.bytes! } : { outcome: 'wrong-bytes' }
    })
  }

  /**
   * A whole DAG in one request (`format=car`, `dag-scope`), for pins that
   * would otherwise fetch block by block: the CAR's root must be `root`, its
   * first block the root, and every block hashes to its CID, or the gateway
   * counts as lying and the next is asked. Every block must also be linked
   * from one before it (the DAG under `root`): a CAR padded with unrelated
   * blocks is a lie too. Blocks come back in the CAR's order (depth-first:
   * parents before children); identity blocks are checked and left out.
   */
  async fetchDag (root: CID, options: { scope: 'entity' | 'all', signal?: AbortSignal }): Promise<Array<{ cid: CID, bytes: Uint8Array }>> {
    assertVerifiable(root)
    return await this.#fromAny(root, options.signal, async (gateway, signal) => {
      const r = await this.#try(gateway, `/ipfs/${root.toString()}?format=car&dag-scope=${options.scope}`, 'application/vnd.ipld.car;version=1;order=dfs;dups=n', this.#opts.maxCarBytes, signal)
      if (r.outcome !== 'ok') return r
      return await this.#readCar(root, r.bytes!)
    })
  }

  /** The verified blocks of a CAR answer for `root`, or the outcome that refuses it. */
  async #readCar (root: CID, bytes: Uint8Array): Promise<{ outcome: GatewayAttempt['outcome'], value?: Array<{ cid: CID, bytes: Uint8Array }>, unverifiable?: CID }> {
    try {
      const car = await CarBlockIterator.fromBytes(bytes)
      const roots = await car.getRoots()
      if (roots.length !== 1 || !roots[0].equals(root)) return { outcome: 'wrong-bytes' }
      const blocks: Array<{ cid: CID, bytes: Uint8Array }> = []
      const linked = new Set([root.toString()])
      for await (const b of car) {
        if (!linked.has(b.cid.toString()) || b.bytes.length > this.#opts.maxBytes) return { outcome: 'wrong-bytes' }
        const inline = b.cid.multihash.code === IDENTITY
        if (!inline && !isVerifiableHash(b.cid.multihash.code)) return { outcome: 'unverifiable', unverifiable: b.cid }
        if (inline ? !equals(b.cid.multihash.digest, b.bytes) : !bytesMatchCid(b.cid, b.bytes)) return { outcome: 'wrong-bytes' }
        for (const link of linksOrNone(b.cid, b.bytes)) linked.add(link.toString())
        if (!inline) blocks.push({ cid: b.cid, bytes: b.bytes })
      }
      if (blocks.length === 0 || !blocks[0].cid.equals(root)) return { outcome: 'wrong-bytes' }
      return { outcome: 'ok', value: blocks }
    } catch {
      return { outcome: 'wrong-bytes' }
    }
  }

  /** Asks gateways best first until one answers `ok`; records every attempt's outcome in the scores. */
  async #fromAny<T> (cid: CID, outer: AbortSignal | undefined, ask: (gateway: string, signal?: AbortSignal) => Promise<{ outcome: GatewayAttempt['outcome'], value?: T, unverifiable?: CID }>): Promise<T> {
    const attempts: GatewayAttempt[] = []
    for (const gateway of await this.order()) {
      outer?.throwIfAborted()
      const started = performance.now()
      const { outcome, value, unverifiable } = await ask(gateway, outer)
      const attempt: GatewayAttempt = { gateway, outcome, ms: performance.now() - started }
      attempts.push(attempt)
      this.#opts.onAttempt?.(attempt)
      // the DAG holds a block no answer could prove: no gateway is at fault, and asking another cannot help
      if (unverifiable != null) throw new UnverifiableCidError(unverifiable)
      await this.#record(gateway, outcome)
      if (outcome === 'ok') return value!
      if (outer?.aborted === true) break
      this.#log.warn({ gateway, cid: cid.toString(), outcome }, 'gateway failed; trying the next')
    }
    outer?.throwIfAborted()
    throw new GatewayFetchError(`no gateway returned verified bytes for ${cid.toString()} (${attempts.map(a => `${a.gateway}: ${a.outcome}`).join(', ') || 'no gateways configured'})`, attempts)
  }

  /** One GET with the whole-request timeout, the stall timeout and a byte limit enforced while streaming. */
  async #try (gateway: string, path: string, accept: string, maxBytes: number, outer?: AbortSignal): Promise<{ outcome: GatewayAttempt['outcome'], bytes?: Uint8Array }> {
    const timeout = AbortSignal.timeout(this.#opts.timeoutMs)
    const stall = new AbortController()
    const signal = AbortSignal.any([timeout, stall.signal, ...(outer != null ? [outer] : [])])
    let stallTimer: NodeJS.Timeout | undefined
    const armStall = (): void => {
      clearTimeout(stallTimer)
      stallTimer = setTimeout(() => stall.abort(), this.#opts.stallMs)
    }
    try {
      armStall()
      // identity only: fetch would inflate gzip/br/deflate bodies, and the byte limit must hold on the wire
      const res = await fetch(new URL(path, gateway), { signal, headers: { accept, 'accept-encoding': 'identity' }, redirect: 'error' })
      if (res.status === 404) { await res.body?.cancel(); return { outcome: 'not-found' } }
      if (!res.ok || res.body == null) { await res.body?.cancel(); return { outcome: 'http-error' } }
      const encoding = (res.headers.get('content-encoding') ?? 'identity').trim().toLowerCase()
      if (encoding !== 'identity' && encoding !== '') { await res.body.cancel(); return { outcome: 'encoded' } }
      const declared = Number(res.headers.get('content-length') ?? NaN)
      if (declared > maxBytes) { await res.body.cancel(); return { outcome: 'too-large' } }
      const chunks: Uint8Array[] = []
      let size = 0
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        armStall()
        size += chunk.length
        if (size > maxBytes) return { outcome: 'too-large' }
        chunks.push(chunk)
      }
      return { outcome: 'ok', bytes: Buffer.concat(chunks) }
    } catch (err) {
      if (stall.signal.aborted) return { outcome: 'stalled' }
      if (timeout.aborted) return { outcome: 'timeout' }
      if (outer?.aborted === true) throw err
      return { outcome: 'network-error' }
    } finally {
      clearTimeout(stallTimer)
    }
  }

  async #record (gateway: string, outcome: GatewayAttempt['outcome']): Promise<void> {
    const s = { ...(this.#scores.get(gateway) ?? { ok: 0, failed: 0, lied: 0, at: 0 }) }
    if (outcome === 'ok') s.ok++
    else if (outcome === 'wrong-bytes' || outcome === 'too-large' || outcome === 'encoded') s.lied++
    else if (outcome !== 'not-found') s.failed++
    s.at = Date.now()
    this.#scores.set(gateway, s)
    await this.#opts.scores.put(gateway, s)
  }
}

/** Throws {@link UnverifiableCidError} for a CID whose bytes no gateway answer could prove. */
function assertVerifiable (cid: CID): void {
  if (!isVerifiableHash(cid.multihash.code)) throw new UnverifiableCidError(cid)
}

/** The links of a verified block, or none when its bytes do not decode (a CAR cannot then go below it). */
function linksOrNone (cid: CID, bytes: Uint8Array): CID[] {
  try {
    return linksOf(cid, bytes) ?? []
  } catch {
    return []
  }
}
