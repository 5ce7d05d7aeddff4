import type { PeerId } from '@libp2p/interface'
import { base58btc } from 'multiformats/bases/base58'
import { CID } from 'multiformats/cid'
import { bytesMatchCid } from '../codec/cid.ts'
import { decodeHeader } from '../codec/decode.ts'
import type { EncodedBlock } from '../codec/encode.ts'
import { blockFromBytes } from '../codec/from-bytes.ts'
import { EARLY_BLOCKS_PER_BATCH, FETCH_CONCURRENCY } from './constants.ts'
import { flat } from '../codec/flat.ts'
import { PeerMisbehavedError } from './errors.ts'
import { checkAnnouncementBatch, type Announcement, type AnnouncementBatch } from './fold.ts'
import { BLOCKS_PROTOCOL, MAX_WANT, fetchBlocks } from './protocol.ts'
import type { ReplicationContext, SyncPart } from './types.ts'

/**
 * Follows the chain index: folds every chain-log entry once, and brings the
 * local store to the fold's canonical tip (blocks fetched by CID from the
 * best peers over BLOCKS_PROTOCOL, bitswap as fallback, verified, imported in
 * order), then moves the head and finality, then fetches side branches.
 */
export class Sync implements SyncPart {
  readonly fetching = new Set<string>()
  readonly requesting = new Set<string>()
  readonly ackFetching = new Set<string>()
  readonly #ctx: ReplicationContext
  readonly #chainLog: () => any
  /**
   * Chain-log entries folded, by hash, with the highest height they announce:
   * pruned when the fold's checkpoint passes that height, so it holds the
   * entries above the checkpoint, not the whole log.
   */
  readonly #seen = new Map<string, number>()
  /** Announced blocks not stored here yet (side branches are fetched from it without scanning the fold). */
  readonly #unfetched = new Set<string>()
  /**
   * Blocks fetched and verified but not imported yet (a chunk before them came
   * back short, or its import failed): the next round takes them from here
   * instead of fetching them again. Bounded; the oldest go first.
   */
  readonly #early = new Map<string, EncodedBlock>()
  /** Resolved (and replaced) when fetched blocks were imported: replica confirmations wait on it instead of polling the store. */
  #landed: { promise: Promise<void>, resolve: () => void } | null = null
  /** Entries read from the log by walks back from a reported entry (each an entry not remembered as folded). */
  walked = 0
  #running: Promise<void> | null = null
  #again = false

  constructor (ctx: ReplicationContext, chainLog: () => any) {
    this.#ctx = ctx
    this.#chainLog = chainLog
  }

  /** Folds one chain-log entry (once); true when the fold changed. */
  apply (entry: any): boolean {
    if (entry?.hash == null || this.#seen.has(entry.hash)) return false
    const value = entry.payload?.value
    if (checkAnnouncementBatch(value) != null) { this.#seen.set(flat(entry.hash), -1); return false }
    const blocks = (value as AnnouncementBatch).blocks
    const top = maxHeight(blocks)
    // below the fold's checkpoint: nothing in it can change the fold, and it is not kept
    if (top <= this.#ctx.fold.checkpointHeight) return false
    this.#seen.set(flat(entry.hash), top)
    let changed = false
    for (const a of blocks) {
      if (this.#ctx.fold.add(a)) changed = true
      if (!this.#ctx.chain.hasBlock(CID.parse(a.cid))) this.#unfetched.add(a.cid)
      this.#ctx.stats.announcementsApplied++
    }
    return changed
  }

  /** OrbitDB reports only the newest entry of a join: walk back to what was folded already. */
  async onEntry (entry: any): Promise<void> {
    if (this.#ctx.stopped()) return
    const stack = [entry]
    let changed = false
    while (stack.length > 0) {
      const e = stack.pop()
      if (e == null || this.#seen.has(e.hash)) continue
      // the entries behind one wholly below the checkpoint are older still: the walk ends here
      if (this.#belowCheckpoint(e)) continue
      if (this.apply(e)) changed = true
      for (const h of [...(e.next ?? []), ...(e.refs ?? [])]) {
        if (this.#seen.has(h)) continue
        this.walked++
        stack.push(await this.#chainLog().log.get(h))
      }
    }
    if (changed) this.schedule()
  }

  /** True for an announcement batch whose every block is at or below the fold's checkpoint. */
  #belowCheckpoint (entry: any): boolean {
    const value = entry.payload?.value
    return checkAnnouncementBatch(value) == null && maxHeight((value as AnnouncementBatch).blocks) <= this.#ctx.fold.checkpointHeight
  }

  /** Entries folded and still remembered (those above the fold's checkpoint). */
  get seenSize (): number { return this.#seen.size }

  /** Moves the fold's checkpoint below local finality and forgets the entries under it. */
  #checkpoint (finalized: number): void {
    const dropped = this.#ctx.fold.checkpoint(finalized)
    if (dropped === 0) return
    const below = this.#ctx.fold.checkpointHeight
    for (const [hash, top] of this.#seen) if (top <= below) this.#seen.delete(hash)
    this.#ctx.log.debug({ checkpoint: below, dropped, fold: this.#ctx.fold.size, seen: this.#seen.size }, 'fold checkpointed')
  }

  /** The chain log's entry blocks as stored here: the whole log on disk, newest first. */
  async * logBlocks (): AsyncGenerator<{ cid: CID, bytes: Uint8Array }> {
    for await (const e of this.#chainLog().log.iterator()) {
      const cid = CID.parse(String(e.hash), base58btc)
      const bytes = this.#ctx.blocks.localBytes(cid)
      if (bytes != null) yield { cid, bytes }
    }
  }

  schedule (): void {
    if (this.#ctx.stopped()) return
    if (this.#running != null) { this.#again = true; return }
    this.#running = (async () => {
      do {
        this.#again = false
        try { await this.#once() } catch (err) { if (!this.#ctx.stopped()) this.#ctx.log.warn({ err }, 'sync round failed') }
      } while (this.#again && !this.#ctx.stopped())
    })().finally(() => { this.#running = null })
  }

  /** Resolves when the current sync round (if any) is done. */
  async idle (): Promise<void> {
    while (this.#running != null) await this.#running
  }

  async #once (): Promise<void> {
    const { fold, chain } = this.#ctx
    const tip = fold.tip()
    if (tip == null) return
    const path = fold.pathFromTip(a => chain.canonicalAt(a.height)?.toString() === a.cid).reverse()
    const missing: Announcement[] = []
    for (const a of path) {
      if (chain.hasBlock(CID.parse(a.cid))) continue
      // a replica confirmation is fetching it: the rest waits for the next round (scheduled when that import lands)
      if (this.ackFetching.has(a.cid)) break
      missing.push(a)
    }
    await this.#fetchInOrder(missing)
    let present: Announcement | null = null
    for (const a of path) {
      if (!chain.hasBlock(CID.parse(a.cid))) break
      present = a
    }
    // a tip already on the local canonical chain needs nothing: the local head
    // may be ahead of the fold with blocks whose announcements are in flight
    if (present != null && chain.canonicalAt(present.height)?.toString() !== present.cid) {
      await chain.setCanonical(CID.parse(present.cid))
    }
    // finality the index announced, once that block is canonical here
    const final = fold.finalized()
    if (final != null && final.height > chain.finalizedHeight() && chain.canonicalAt(final.height)?.toString() === final.cid) {
      await chain.setFinalized(final.height)
    }
    this.#checkpoint(chain.finalizedHeight())
    // side branches: fetched so any peer can serve them and a later reorg is local
    const side: Announcement[] = []
    for (const cid of this.#unfetched) {
      const a = fold.get(cid)
      if (a == null || chain.hasBlock(CID.parse(cid))) { this.#unfetched.delete(cid); continue }
      // a replica confirmation is fetching it (or a round is): fetching it here too would fetch it twice
      if (this.ackFetching.has(cid) || this.fetching.has(cid)) continue
      if (side.length < MAX_WANT && (a.parent == null || chain.hasBlock(CID.parse(a.parent)))) side.push(a)
    }
    if (side.length > 0) await this.#fetchInOrder(side)
  }

  async #fetchInOrder (list: Announcement[]): Promise<void> {
    for (const a of list) this.fetching.add(a.cid)
    try {
      await this.#fetchChunksInOrder(list)
    } finally {
      for (const a of list) this.fetching.delete(a.cid)
    }
  }

  async #fetchChunksInOrder (list: Announcement[]): Promise<void> {
    const chunks: Announcement[][] = []
    const size = this.#ctx.net.fetchBatch
    for (let i = 0; i < list.length; i += size) chunks.push(list.slice(i, i + size))
    const inFlight: Array<Promise<EncodedBlock[]>> = []
    let next = 0
    const launch = (): void => {
      if (next < chunks.length) inFlight.push(this.#fetchChunk(chunks[next++]))
    }
    for (let i = 0; i < FETCH_CONCURRENCY; i++) launch()
    let c = 0
    while (inFlight.length > 0 && !this.#ctx.stopped()) {
      const blocks = await inFlight.shift()!
      const chunk = chunks[c++]
      // a chunk that came back short leaves the chunks after it without their parents: keep what they bring for the next round
      if (blocks.length < chunk.filter(a => !this.#ctx.chain.hasBlock(CID.parse(a.cid))).length) {
        await this.#importOrKeep(blocks)
        await this.#keepInFlight(inFlight)
        return
      }
      launch()
      if (blocks.length === 0) continue
      if (!await this.#importOrKeep(blocks)) {
        await this.#keepInFlight(inFlight)
        return
      }
    }
  }

  /**
   * Imports fetched blocks (in height order) up to the first whose parent is
   * neither stored nor just before it; true when all went in. What cannot go
   * in yet is kept for a later round.
   */
  async #importOrKeep (blocks: EncodedBlock[]): Promise<boolean> {
    if (blocks.length === 0) return true
    const { chain } = this.#ctx
    let n = 0
    if (this.#ctx.init.allowGaps) n = blocks.length
    else {
      while (n < blocks.length) {
        const parent = blocks[n].parent
        if (parent != null && !chain.hasBlock(parent) && !(n > 0 && blocks[n - 1].cid.equals(parent))) break
        n++
      }
    }
    this.#keep(blocks.slice(n))
    if (n === 0) return false
    try {
      await chain.importBlocks(n === blocks.length ? blocks : blocks.slice(0, n))
      return n === blocks.length
    } catch (err) {
      this.#ctx.log.warn({ err: (err as Error).message }, 'import of fetched blocks failed')
      return false
    } finally {
      this.noteLanded()
    }
  }

  /** Resolves after the next import of fetched blocks (whether it took them all or not). */
  async landed (): Promise<void> {
    if (this.#landed == null) {
      let resolve!: () => void
      const promise = new Promise<void>(r => { resolve = r })
      this.#landed = { promise, resolve }
    }
    await this.#landed.promise
  }

  /** Wakes whoever waits on {@link landed}. */
  noteLanded (): void {
    const l = this.#landed
    this.#landed = null
    l?.resolve()
  }

  takeFetched (cid: string): EncodedBlock | undefined {
    const b = this.#early.get(cid)
    if (b != null) this.#early.delete(cid)
    return b
  }

  /** Waits for the chunks still in flight and keeps what they bring (their parents are not imported). */
  async #keepInFlight (inFlight: Array<Promise<EncodedBlock[]>>): Promise<void> {
    for (const p of inFlight.splice(0)) this.#keep(await p.catch(() => []))
  }

  keepFetched (blocks: EncodedBlock[]): void { this.#keep(blocks) }

  #keep (blocks: EncodedBlock[]): void {
    const max = EARLY_BLOCKS_PER_BATCH * this.#ctx.net.fetchBatch
    for (const b of blocks) {
      this.#early.set(flat(b.cid.toString()), b)
      if (this.#early.size > max) this.#early.delete(this.#early.keys().next().value!)
    }
  }

  /** One chunk from the best peer that has it; wrong bytes cost the peer reputation and the next peer is asked. */
  async #fetchChunk (chunk: Announcement[]): Promise<EncodedBlock[]> {
    const { log, fold, chain } = this.#ctx
    const got = new Map<string, EncodedBlock>()
    const want: CID[] = []
    for (const a of chunk) {
      const kept = this.#early.get(a.cid)
      if (kept != null) { this.#early.delete(a.cid); got.set(a.cid, kept); continue }
      const cid = CID.parse(a.cid)
      // stored (or being fetched for a replica confirmation) since the round began: not fetched again
      if (!chain.hasBlock(cid) && !this.ackFetching.has(a.cid)) want.push(cid)
    }
    const requested = want.map(String)
    for (const c of requested) this.requesting.add(c)
    try {
      await this.#request(want, got)
    } finally {
      for (const c of requested) this.requesting.delete(c)
    }
    const out: EncodedBlock[] = []
    for (const a of chunk) {
      const b = got.get(a.cid)
      if (b == null) continue
      if (b.height !== a.height || (b.parent?.toString() ?? null) !== a.parent) {
        log.warn({ cid: a.cid, announced: a.height, actual: b.height }, 'block contradicts its announcement; dropped from the fold')
        fold.reject(a.cid)
        continue
      }
      out.push(b)
    }
    return out
  }

  /** Asks the best peers for `want` in turn, then bitswap for what none sent; what arrives goes into `got`. */
  async #request (want: CID[], got: Map<string, EncodedBlock>): Promise<void> {
    const { stats, peers, log } = this.#ctx
    for (const peer of peers.byReputation()) {
      const ask = want.filter(c => !got.has(c.toString()))
      if (ask.length === 0) break
      try {
        const res = await this.fetchFrom(peer, ask)
        for (const b of res) got.set(b.cid.toString(), b)
      } catch (err) {
        stats.fetchFailures++
        if (err instanceof PeerMisbehavedError) peers.penalize(peer.toString(), err.message)
        else log.debug({ peer: peer.toString(), err: (err as Error).message }, 'fetch failed')
      }
    }
    for (const c of want) {
      if (got.has(c.toString())) continue
      const b = await this.#fetchViaBitswap(c).catch(() => undefined)
      if (b != null) got.set(c.toString(), b)
    }
  }

  async fetchFrom (peer: PeerId, want: CID[], signal?: AbortSignal): Promise<EncodedBlock[]> {
    const { net, stats, libp2p } = this.#ctx
    const timeout = AbortSignal.timeout(net.fetchTimeoutMs)
    const s = signal != null ? AbortSignal.any([signal, timeout, this.#ctx.signal]) : AbortSignal.any([timeout, this.#ctx.signal])
    const stream = await libp2p.dialProtocol(peer, BLOCKS_PROTOCOL, { signal: s })
    const { blocks } = await fetchBlocks(stream, peer.toString(), want, this.#ctx.init.limits, s)
    stats.blocksFetched += blocks.length
    for (const b of blocks) if (this.#ctx.chain.hasBlock(b.cid)) stats.duplicateFetches++
    for (const b of blocks) stats.bytesFetched += b.size
    if (blocks.length > 0) this.#ctx.reputation()?.observe(peer.toString(), { good: blocks.length })
    return blocks
  }

  /** Bitswap, which any IPFS peer speaks: the header, then its pages, each verified by Helia and again here. */
  async #fetchViaBitswap (cid: CID): Promise<EncodedBlock | undefined> {
    if (this.#ctx.libp2p.getConnections().length === 0) return undefined
    const signal = AbortSignal.any([AbortSignal.timeout(this.#ctx.net.fetchTimeoutMs), this.#ctx.signal])
    const get = async (c: CID): Promise<Uint8Array> => await this.getBytes(c, signal)
    const header = await get(cid)
    const h = decodeHeader(header)
    const pages = new Map<string, Uint8Array>()
    await Promise.all([...h.txPages, ...h.receiptPages].map(async p => { pages.set(p.toString(), await get(p)) }))
    this.#ctx.stats.bitswapFallbacks++
    return blockFromBytes(cid, header, c => pages.get(c.toString()), this.#ctx.init.limits)
  }

  /** Bytes of any block from the network (bitswap through Helia), verified against the CID. */
  async getBytes (cid: CID, signal: AbortSignal): Promise<Uint8Array> {
    const chunks: Uint8Array[] = []
    for await (const chunk of this.#ctx.components.helia.blockstore.get(cid, { signal } as any)) chunks.push(chunk)
    const bytes = Buffer.concat(chunks)
    if (!bytesMatchCid(cid, bytes)) throw new PeerMisbehavedError('bitswap', `bytes for ${cid.toString()} do not hash to it`)
    return bytes
  }
}

function maxHeight (blocks: Announcement[]): number {
  let top = -1
  for (const a of blocks) if (a.height > top) top = a.height
  return top
}
