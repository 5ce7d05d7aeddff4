import type { AttestationStore } from '../attestations/store.ts'
import type { AttestationBatch, ErasureRecord } from '../attestations/types.ts'
import type { Logger } from '../logger.ts'
import { ChainstoreAccessController, type Rejection } from './access.ts'
import { openDatabase } from './open-db.ts'

/** Most attestations one replicated entry may carry (a local `ingest` larger than this is published in several). */
export const MAX_ATTESTATIONS_PER_ENTRY = 1000

/** What an entry of the attestations log holds. */
type AttestationEntry = { type: 'attestations', batch: AttestationBatch } | { type: 'erasure', record: ErasureRecord }

/** Shape check the access controller runs on every entry before it is accepted (the store validates each field again). */
export function checkAttestationPayload (p: any): string | undefined {
  const v = p?.value
  if (v?.type === 'attestations') {
    const list = v.batch?.attestations
    if (!Array.isArray(list) || list.length === 0 || list.length > MAX_ATTESTATIONS_PER_ENTRY) return 'attestation batch size'
    return undefined
  }
  if (v?.type === 'erasure') {
    if (typeof v.record?.validator !== 'string' || !Number.isSafeInteger(v.record?.erasedAt)) return 'erasure record shape'
    return undefined
  }
  return 'attestation entry type'
}

/**
 * Replicates attestations and erasures between peers: an OrbitDB `events`
 * log `<network>.attestations` that only the validator set may append to.
 * A node publishes the attestations it ingests for its own identity (a
 * validator writes only its own: every replica refuses a batch holding
 * another validator's attestation, see `AttestationStore.applyRemote`) and
 * every erasure it performs; it applies what peers append. Sealed payloads
 * travel as ciphertext only (the data key never leaves the node that sealed
 * it); erasure records carry a validator id and a time, nothing else.
 */
export class AttestationLog {
  readonly db: any
  readonly #store: AttestationStore
  readonly #orbitdb: any
  readonly #selfId: string
  readonly #log: Logger
  readonly #unsubscribe: Array<() => void> = []
  #pending: Promise<unknown> = Promise.resolve()
  /** Entries applied from peers, and refused by the store (a foreign attestation, a bad field). */
  readonly stats = { published: 0, applied: 0, refused: 0 }

  private constructor (db: any, orbitdb: any, store: AttestationStore, selfId: string, log: Logger) {
    this.db = db
    this.#orbitdb = orbitdb
    this.#store = store
    this.#selfId = selfId
    this.#log = log
  }

  static async open (init: { orbitdb: any, name: string, writers: string[], entryStorage: unknown, store: AttestationStore, selfId: string, onReject: (r: Rejection) => void, logger: Logger }): Promise<AttestationLog> {
    const logger = init.logger.child({ room: 'attestation-log' })
    const db = await openDatabase(init.orbitdb, `${init.name}.attestations`, {
      type: 'events',
      entryStorage: init.entryStorage,
      AccessController: ChainstoreAccessController({ write: init.writers, rule: 'writers', database: 'attestations', checkPayload: checkAttestationPayload, onReject: init.onReject, logger })
    }, 'attestations', logger)
    const log = new AttestationLog(db, init.orbitdb, init.store, init.selfId, logger)
    db.events.on('update', (entry: any) => { log.#apply(entry) })
    log.#unsubscribe.push(init.store.onIngest(batch => { log.#publishBatch(batch) }))
    log.#unsubscribe.push(init.store.onErasure(record => { log.#publish({ type: 'erasure', record }) }))
    return log
  }

  #publishBatch (batch: AttestationBatch): void {
    const own = batch.attestations.filter(a => a.validator === this.#selfId)
    if (own.length < batch.attestations.length) this.#log.debug({ kept: batch.attestations.length - own.length }, 'attestations of other validators stay local')
    for (let i = 0; i < own.length; i += MAX_ATTESTATIONS_PER_ENTRY) {
      this.#publish({ type: 'attestations', batch: { attestations: own.slice(i, i + MAX_ATTESTATIONS_PER_ENTRY) } })
    }
  }

  #publish (entry: AttestationEntry): void {
    this.#pending = this.#pending.then(async () => {
      await this.db.add(entry)
      this.stats.published++
    }).catch(err => { this.#log.warn({ err: (err as Error).message, type: entry.type }, 'attestation entry not published') })
  }

  /** Applies a peer's entry (own entries come back through `update` too: they are skipped). */
  #apply (entry: any): void {
    this.#pending = this.#pending.then(async () => {
      const identity = await this.#orbitdb.identities.getIdentity(entry.identity)
      const signer: string | undefined = identity?.id
      if (signer == null || signer === this.#selfId) return
      const value = entry.payload?.value as AttestationEntry
      try {
        if (value.type === 'attestations') await this.#store.applyRemote(value.batch, signer)
        else await this.#store.applyErasure(value.record)
        this.stats.applied++
      } catch (err) {
        this.stats.refused++
        this.#log.warn({ signer, type: value?.type, err: (err as Error).name }, 'replicated attestation entry refused')
      }
    }).catch(err => { this.#log.warn({ err: (err as Error).message }, 'attestation entry not applied') })
  }

  /** Waits for every publish and apply queued so far. */
  async idle (): Promise<void> {
    await this.#pending
  }

  async close (): Promise<void> {
    for (const u of this.#unsubscribe.splice(0)) u()
    await this.#pending
  }
}
