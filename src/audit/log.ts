import { createHash, sign, verify, type KeyObject } from 'node:crypto'
import type { Logger } from '../logger.ts'
import type { RootDb } from '../storage/level.ts'
import { SerialQueue } from '../storage/serial.ts'
import { peerIdOf } from '../node-key.ts'

/** What an audit event records (no personal data: counts, heights, CIDs, ids). */
export type AuditKind =
  'blocks.stored' | 'blocks.imported' | 'pin.added' | 'pin.removed' | 'gc' |
  'backup.created' | 'backup.restored' | 'attestation.written' | 'attestation.erased' | 'key.rotated' | 'read'

/** One event as stored: hash-chained (`prev` is the previous event's `hash`) and signed by the node key. */
export interface AuditEvent {
  seq: number
  at: string
  kind: AuditKind
  detail: Record<string, unknown>
  /** Hex SHA-256 of the previous event ("" for the first). */
  prev: string
  /** Hex SHA-256 of this event's canonical form (seq, at, kind, detail, prev). */
  hash: string
  /** Base64 Ed25519 signature of `hash` by the node key. */
  sig: string
}

/** What `verify` found: the events checked, the signer, and the first break when there is one. */
export interface AuditVerification {
  events: number
  signer: string
  ok: boolean
  firstBreak?: { seq: number, problem: string }
}

/** Name of the sublevel that holds the audit trail's events. */
export const AUDIT_SUBLEVEL = 'audit'
const SUBLEVEL = AUDIT_SUBLEVEL
const keyOf = (seq: number): string => String(seq).padStart(16, '0')

function canonical (e: Pick<AuditEvent, 'seq' | 'at' | 'kind' | 'detail' | 'prev'>): string {
  return JSON.stringify([e.seq, e.at, e.kind, e.detail, e.prev])
}

function hashOf (e: Pick<AuditEvent, 'seq' | 'at' | 'kind' | 'detail' | 'prev'>): string {
  return createHash('sha256').update(canonical(e)).digest('hex')
}

/**
 * The audit trail: an append-only, hash-chained log of storage operations
 * in the node's LevelDB (sublevel `audit`), each event signed with the node
 * key (the key of its libp2p peer id). Appends are serialised; each is its
 * own small write after the operation it records (one per `storeBlocks` or
 * import batch, not per transaction), so a crash between the two can lose
 * the last event but never breaks the chain. `verify` re-hashes every event,
 * checks each link and signature and names the first break.
 */
export class AuditLog {
  readonly #db: ReturnType<typeof sublevelOf>
  readonly #key: { privateKey: KeyObject, publicKey: KeyObject }
  readonly #sync: boolean
  readonly #log: Logger
  readonly #queue = new SerialQueue()
  #tail: { seq: number, hash: string } = { seq: 0, hash: '' }
  #closed = false

  private constructor (db: RootDb, key: { privateKey: KeyObject, publicKey: KeyObject }, sync: boolean, log: Logger) {
    this.#db = sublevelOf(db)
    this.#key = key
    this.#sync = sync
    this.#log = log
  }

  /** Opens the trail and finds its tail. */
  static async open (init: { db: RootDb, key: { privateKey: KeyObject, publicKey: KeyObject }, sync: boolean, logger: Logger }): Promise<AuditLog> {
    const a = new AuditLog(init.db, init.key, init.sync, init.logger.child({ room: 'audit' }))
    for await (const value of a.#db.values({ reverse: true, limit: 1 })) {
      const last = JSON.parse(value) as AuditEvent
      a.#tail = { seq: last.seq, hash: last.hash }
    }
    return a
  }

  /** The peer id of the key events are signed with. */
  get signer (): string { return peerIdOf(this.#key.publicKey) }

  /** Appends an event (in the background, in call order); a failure is logged, never thrown at the operation it records. */
  append (kind: AuditKind, detail: Record<string, unknown>): void {
    if (this.#closed) return
    void this.#queue.run(async () => {
      if (this.#closed) return
      const body = { seq: this.#tail.seq + 1, at: new Date().toISOString(), kind, detail, prev: this.#tail.hash }
      const hash = hashOf(body)
      const event: AuditEvent = { ...body, hash, sig: sign(null, Buffer.from(hash, 'hex'), this.#key.privateKey).toString('base64') }
      // classic-level takes `sync` through a sublevel's put (abstract-level's types leave it out)
      await this.#db.put(keyOf(event.seq), JSON.stringify(event), { sync: this.#sync } as object)
      this.#tail = { seq: event.seq, hash }
    }).catch(err => { this.#log.error({ kind, err: (err as Error).message }, 'audit event not written') })
  }

  /** Resolves once every event appended so far is written. */
  async flush (): Promise<void> {
    await this.#queue.idle()
  }

  async close (): Promise<void> {
    await this.flush()
    this.#closed = true
  }

  /** Events in order, from `from` (seq), at most `limit`; newest first with `reverse`. */
  async * events (options: { from?: number, limit?: number, reverse?: boolean } = {}): AsyncGenerator<AuditEvent> {
    const range = options.from != null ? (options.reverse === true ? { lte: keyOf(options.from) } : { gte: keyOf(options.from) }) : {}
    for await (const value of this.#db.values({ ...range, reverse: options.reverse === true, ...(options.limit != null ? { limit: options.limit } : {}) })) {
      yield JSON.parse(value) as AuditEvent
    }
  }

  /**
   * Checks the whole trail: every event's hash against its content, its
   * `prev` against the event before, the sequence without gaps, and every
   * signature against the node key. Stops at the first break.
   */
  async verify (options: { publicKey?: KeyObject } = {}): Promise<AuditVerification> {
    const publicKey = options.publicKey ?? this.#key.publicKey
    let expected = { seq: 0, hash: '' }
    let events = 0
    const broken = (seq: number, problem: string): AuditVerification => ({ events, signer: peerIdOf(publicKey), ok: false, firstBreak: { seq, problem } })
    for await (const value of this.#db.values()) {
      let e: AuditEvent
      try { e = JSON.parse(value) as AuditEvent } catch { return broken(expected.seq + 1, 'the stored event is not JSON') }
      events++
      if (e.seq !== expected.seq + 1) return broken(expected.seq + 1, e.seq > expected.seq + 1 ? `events ${expected.seq + 1}..${e.seq - 1} are missing` : `event ${e.seq} is out of order`)
      if (e.prev !== expected.hash) return broken(e.seq, 'its prev does not name the event before it (the chain is broken)')
      if (hashOf(e) !== e.hash) return broken(e.seq, 'its content does not hash to its recorded hash (the event was altered)')
      let good = false
      try { good = verify(null, Buffer.from(e.hash, 'hex'), publicKey, Buffer.from(e.sig, 'base64')) } catch {}
      if (!good) return broken(e.seq, 'its signature does not verify with the node key')
      expected = { seq: e.seq, hash: e.hash }
    }
    return { events, signer: peerIdOf(publicKey), ok: true }
  }
}

function sublevelOf (db: RootDb) {
  return db.sublevel<string, string>(SUBLEVEL, { keyEncoding: 'utf8', valueEncoding: 'utf8' })
}
