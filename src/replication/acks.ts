import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { CID } from 'multiformats/cid'
import type { Consistency } from '../chain/types.ts'
import type { EncodedBlock } from '../codec/encode.ts'
import { QUEUE_PREFIX } from './constants.ts'
import { QuorumNotReachedError } from './errors.ts'
import { ACK_PROTOCOL, MAX_WANT, requestAck } from './protocol.ts'
import type { QueueEntry, ReplicationContext } from './types.ts'

/** A block stored here, as the announcer and the queue see it. */
export interface WrittenBlock { cid: CID, height: number, parent: CID | null, txCount: number }

/**
 * Replica confirmations over ACK_PROTOCOL: a write with `quorum` / `all`
 * waits for them, every write that wants copies (`replicationFactor`) gets an
 * entry in a persistent queue that is retried every tick until its copies
 * confirm, and the server side fetches, imports and confirms what a writer
 * asks it to hold.
 */
export class Acks {
  readonly #ctx: ReplicationContext
  /** Read-modify-writes of the queue run one at a time. */
  #queueLock: Promise<unknown> = Promise.resolve()

  constructor (ctx: ReplicationContext) {
    this.#ctx = ctx
  }

  /**
   * Called after blocks are durably stored locally: records them in the
   * replication queue, announces them, and for `quorum`/`all` waits for
   * replica confirmations (QuorumNotReachedError after `quorumTimeoutMs`;
   * the blocks stay stored, announced and queued).
   */
  async afterLocalWrite (blocks: WrittenBlock[], options: { consistency?: Consistency, weight?: number, finalized?: boolean } = {}): Promise<void> {
    if (blocks.length === 0) return
    const { net, stats, kv } = this.#ctx
    const consistency = options.consistency ?? 'one'
    const replicas = this.replicaSet()
    const needed = consistency === 'all' ? replicas.length : consistency === 'quorum' ? Math.floor((replicas.length + 1) / 2) : 0
    const copies = Math.max(needed, net.replicationFactor - 1)
    if (copies > 0) {
      await kv.batch(blocks.map(b => ({ type: 'put', key: QUEUE_PREFIX + b.cid.toString(), value: { height: b.height, needed: copies, confirmed: [], since: Date.now() } satisfies QueueEntry })))
      stats.queued += blocks.length
    }
    this.#ctx.announce(blocks.map(b => ({
      cid: b.cid.toString(), height: b.height, parent: b.parent?.toString() ?? null, weight: options.weight ?? 1, finalized: options.finalized ?? false, txCount: b.txCount
    })))
    if (needed === 0) return
    stats.quorumWrites++
    const cids = blocks.map(b => b.cid)
    const confirmed = await this.#collect(replicas, cids, needed, net.quorumTimeoutMs)
    await this.#confirm(cids.map(c => c.toString()), confirmed)
    if (confirmed.length < needed) {
      stats.quorumFailures++
      throw new QuorumNotReachedError(`${consistency} write of ${blocks.length} block(s) up to height ${blocks[blocks.length - 1].height}: ${confirmed.length} of ${needed} replica confirmations in ${net.quorumTimeoutMs} ms (confirmed: ${confirmed.join(', ') || 'none'}); blocks are stored and queued for replication`, confirmed, needed)
    }
  }

  /**
   * ACK_PROTOCOL server side: fetch what is missing from the asking peer (and
   * missing ancestors, so parents are stored first), import, and answer with
   * what is now held verified and pinned.
   */
  async ensure (peer: PeerId, cids: CID[], signal: AbortSignal): Promise<CID[]> {
    const { chain, sync, net } = this.#ctx
    this.#ctx.stats.acksServed++
    let want = cids.filter(c => !chain.hasBlock(c))
    // blocks a sync round or another confirmation is already fetching arrive shortly: wait rather than fetch twice.
    // The store is asked again when fetched blocks land (or every 50 ms), not every 10 ms per block: in a
    // propagation run that polling took ~4 % of a follower's thread
    const deadline = Date.now() + net.fetchTimeoutMs
    const inFlight = (c: CID): boolean => sync.fetching.has(c.toString()) || sync.ackFetching.has(c.toString())
    while (want.some(inFlight) && Date.now() < deadline && !signal.aborted) {
      let timer: ReturnType<typeof setTimeout> | undefined
      await Promise.race([sync.landed(), new Promise(resolve => { timer = setTimeout(resolve, 50) })])
      clearTimeout(timer)
      want = want.filter(c => !chain.hasBlock(c))
    }
    // after the wait (a long round on a loaded host) the blocks the round has not asked a peer for yet are
    // fetched here (the round leaves what a confirmation is fetching); those it is asking for right now, or
    // another confirmation is, are left to it and not confirmed now: fetching them too would fetch them twice
    want = want.filter(c => !sync.requesting.has(c.toString()) && !sync.ackFetching.has(c.toString()))
    if (want.length === 0) return cids.filter(c => chain.hasBlock(c))
    const marked = want.map(c => c.toString())
    for (const c of marked) sync.ackFetching.add(c)
    try {
      await this.#fetchForAck(peer, want, signal)
    } finally {
      for (const c of marked) sync.ackFetching.delete(c)
      sync.schedule()
    }
    return cids.filter(c => chain.hasBlock(c))
  }

  /**
   * One request for the asked blocks, then import those that connect to what
   * is stored. A replica that lacks their ancestors is behind: it confirms
   * nothing now and catches up through its sync rounds (fetching ancestors
   * one parent at a time here would be both slow and in the sync's way); the
   * asker's queue asks again later.
   */
  async #fetchForAck (peer: PeerId, wanted: CID[], signal: AbortSignal): Promise<void> {
    const { chain, fold } = this.#ctx
    const asked = new Set(wanted.map(c => c.toString()))
    const behind = (c: CID): boolean => {
      const parent = fold.get(c.toString())?.parent
      return parent != null && !asked.has(parent) && !chain.hasBlock(CID.parse(parent))
    }
    const kept: EncodedBlock[] = []
    const want = wanted.filter(c => {
      if (behind(c)) return false
      const b = this.#ctx.sync.takeFetched(c.toString())
      if (b != null) kept.push(b)
      return b == null
    })
    if (want.length === 0 && kept.length === 0) return
    const fetched = want.length === 0 ? [] : await this.#ctx.sync.fetchFrom(peer, want.slice(0, MAX_WANT), signal)
    const blocks = [...kept, ...fetched].sort((a, b) => a.height - b.height)
    const accepted = new Set<string>()
    const importable: EncodedBlock[] = []
    const later: EncodedBlock[] = []
    for (const b of blocks) {
      if (b.parent == null || chain.hasBlock(b.parent) || accepted.has(b.parent.toString()) || this.#ctx.init.allowGaps) {
        accepted.add(b.cid.toString())
        importable.push(b)
      } else later.push(b)
    }
    // their parents come through a sync round, which takes these from there instead of fetching them again
    this.#ctx.sync.keepFetched(later)
    if (importable.length > 0) {
      try { await chain.importBlocks(importable) } finally { this.#ctx.sync.noteLanded() }
    }
  }

  /** The peers whose copies count: the configured replicas, or the connected peers that are not banned, best reputation first. */
  replicaSet (): string[] {
    const { net } = this.#ctx
    if (net.replicas.length > 0) return net.replicas.filter(p => p !== this.#ctx.peerId())
    return this.#ctx.peers.byReputation().map(p => p.toString())
  }

  /** Asks every replica at once; resolves with who confirmed, as soon as `needed` did or at the timeout. */
  async #collect (replicas: string[], cids: CID[], needed: number, timeoutMs: number): Promise<string[]> {
    const confirmed: string[] = []
    const signal = AbortSignal.any([AbortSignal.timeout(timeoutMs), this.#ctx.signal])
    await new Promise<void>(resolve => {
      let open = replicas.length
      if (open === 0) { resolve(); return }
      signal.addEventListener('abort', () => resolve(), { once: true })
      for (const r of replicas) {
        this.#ask(r, cids, signal).then(have => {
          if (have.length === cids.length) confirmed.push(r)
          if (confirmed.length >= needed) resolve()
        }, err => {
          this.#ctx.log.debug({ replica: r, err: (err as Error).message }, 'replica did not confirm')
        }).finally(() => { if (--open === 0) resolve() })
      }
    })
    return [...confirmed]
  }

  async #ask (peer: string, cids: CID[], signal: AbortSignal): Promise<CID[]> {
    const stream = await this.#ctx.libp2p.dialProtocol(peerIdFromString(peer), ACK_PROTOCOL, { signal })
    return await requestAck(stream, peer, cids, signal)
  }

  /**
   * Records that `replicas` hold `cids`: entries that reach their copies are
   * deleted. Read-modify-writes of the queue run one at a time (a quorum
   * write's confirmations and the retry loop touch the same entries).
   */
  async #confirm (cids: string[], replicas: string[]): Promise<void> {
    if (cids.length === 0 || replicas.length === 0) return
    const { kv, stats } = this.#ctx
    const run = this.#queueLock.then(async () => {
      const keys = cids.map(c => QUEUE_PREFIX + c)
      const entries = await kv.getMany(keys) as Array<QueueEntry | undefined>
      const ops: any[] = []
      let done = 0
      for (let i = 0; i < keys.length; i++) {
        const e = entries[i]
        if (e == null) continue
        const confirmed = [...new Set([...e.confirmed, ...replicas])]
        if (confirmed.length >= e.needed) { ops.push({ type: 'del', key: keys[i] }); done++ } else ops.push({ type: 'put', key: keys[i], value: { ...e, confirmed } })
      }
      if (ops.length > 0) await kv.batch(ops)
      stats.queued -= done
    })
    this.#queueLock = run.catch(() => {})
    await run
  }

  /** Entries in the queue (counted once at start). */
  async count (): Promise<number> {
    let n = 0
    let gt: string | undefined
    for (;;) {
      let page = 0
      for await (const [k] of this.#ctx.kv.iterate({ prefix: QUEUE_PREFIX, ...(gt != null ? { gt } : {}) })) { n++; page++; gt = k }
      if (page < 1000) return n
    }
  }

  /** The replication queue's entries (oldest heights first), for status and tests. */
  async queue (limit = 1000): Promise<Array<QueueEntry & { cid: string }>> {
    const out: Array<QueueEntry & { cid: string }> = []
    for await (const [k, v] of this.#ctx.kv.iterate({ prefix: QUEUE_PREFIX, limit })) out.push({ cid: k.slice(QUEUE_PREFIX.length), ...(v as QueueEntry) })
    return out
  }

  /** Retries queued blocks with replicas that have not confirmed them. */
  async retry (): Promise<void> {
    // a few pages per tick, so a queue that grows at the write rate drains
    for (let page = 0; page < 8 && !this.#ctx.stopped(); page++) {
      const before = this.#ctx.stats.queued
      const full = await this.#retryPage()
      if (!full || this.#ctx.stats.queued >= before) return
    }
  }

  /** One page of the queue; returns whether the page was full. */
  async #retryPage (): Promise<boolean> {
    const entries = await this.queue(MAX_WANT)
    if (entries.length === 0) return false
    const replicas = this.replicaSet()
    const connected = new Set(this.#ctx.libp2p.getConnections().map(c => c.remotePeer.toString()))
    for (const r of replicas) {
      if (!connected.has(r)) continue
      const todo = entries.filter(e => !e.confirmed.includes(r) && e.confirmed.length < e.needed)
      if (todo.length === 0) continue
      const cids = todo.map(e => CID.parse(e.cid))
      try {
        const have = await this.#ask(r, cids, AbortSignal.any([AbortSignal.timeout(this.#ctx.net.quorumTimeoutMs), this.#ctx.signal]))
        await this.#confirm(have.map(c => c.toString()), [r])
      } catch (err) {
        this.#ctx.log.debug({ replica: r, err: (err as Error).message }, 'queued replication retry failed')
      }
    }
    return entries.length === MAX_WANT
  }
}
