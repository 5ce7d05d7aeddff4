import type { CID } from 'multiformats/cid'
import { bytesMatchCid } from '../codec/cid.ts'
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

/** One gateway's answer to one request. */
export interface GatewayAttempt {
  gateway: string
  outcome: 'ok' | 'not-found' | 'http-error' | 'wrong-bytes' | 'too-large' | 'timeout' | 'stalled' | 'network-error'
  ms: number
}

/** A gateway's persisted record. */
export interface GatewayScore {
  ok: number
  failed: number
  /** Answers that were provably wrong (bytes not matching the CID, oversized). */
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
    const attempts: GatewayAttempt[] = []
    for (const gateway of await this.order()) {
      options.signal?.throwIfAborted()
      const started = performance.now()
      const { outcome, bytes } = await this.#try(gateway, cid, options.signal)
      const attempt: GatewayAttempt = { gateway, outcome, ms: performance.now() - started }
      attempts.push(attempt)
      this.#opts.onAttempt?.(attempt)
      await this.#record(gateway, outcome)
      if (outcome === 'ok') return bytes!
      if (options.signal?.aborted === true) break
      this.#log.warn({ gateway, cid: cid.toString(), outcome }, 'gateway failed; trying the next')
    }
    options.signal?.throwIfAborted()
    throw new GatewayFetchError(`no gateway returned verified bytes for ${cid.toString()} (${attempts.map(a => `${a.gateway}: ${a.outcome}`).join(', ') || 'no gateways configured'})`, attempts)
  }

  async #try (gateway: string, cid: CID, outer?: AbortSignal): Promise<{ outcome: GatewayAttempt['outcome'], bytes?: Uint8Array }> {
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
      const url = new URL(`/ipfs/${cid.toString()}?format=raw`, gateway)
      const res = await fetch(url, { signal, headers: { accept: 'application/vnd.ipld.raw' }, redirect: 'error' })
      if (res.status === 404) { await res.body?.cancel(); return { outcome: 'not-found' } }
      if (!res.ok || res.body == null) { await res.body?.cancel(); return { outcome: 'http-error' } }
      const declared = Number(res.headers.get('content-length') ?? NaN)
      if (declared > this.#opts.maxBytes) { await res.body.cancel(); return { outcome: 'too-large' } }
      const chunks: Uint8Array[] = []
      let size = 0
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        armStall()
        size += chunk.length
        if (size > this.#opts.maxBytes) return { outcome: 'too-large' }
        chunks.push(chunk)
      }
      const bytes = Buffer.concat(chunks)
      if (!bytesMatchCid(cid, bytes)) return { outcome: 'wrong-bytes' }
      return { outcome: 'ok', bytes }
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
    else if (outcome === 'wrong-bytes' || outcome === 'too-large') s.lied++
    else if (outcome !== 'not-found') s.failed++
    s.at = Date.now()
    this.#scores.set(gateway, s)
    await this.#opts.scores.put(gateway, s)
  }
}
