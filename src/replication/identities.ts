import type { Logger } from '../logger.ts'

/** Identity blocks of the validator set this node keeps track of (a few per writer at most). */
export const MAX_WRITER_IDENTITIES = 64
/** Identity hashes found invalid or not of a writer, remembered so an offer of them is not fetched again. */
const MAX_REFUSED = 1_000

/** What {@link WriterIdentities} reads identities with. */
export interface WriterIdentitiesInit {
  /** Identity ids of the validator set. */
  writers: () => string[]
  /** The identity block under `hash`, decoded: local, else fetched from connected peers (and then held locally). */
  read: (hash: string, signal: AbortSignal) => Promise<{ id: string } | undefined>
  /** True for an identity whose signatures check out. */
  verify: (identity: any) => Promise<boolean>
  /** How long one fetch may take. */
  timeoutMs: number
  /** Aborted when replication stops. */
  signal: AbortSignal
  log: Logger
}

/**
 * The identity blocks of the validator set, fetched eagerly. OrbitDB loads
 * a writer's identity block when it verifies that writer's entry, inside the
 * database's single-file queue, with a 30 s timeout: a node that lacks the
 * block while the peers that hold it are away holds every later head behind
 * that read (docs/FAULTS.md). Here the hashes travel in each HEAD_PROTOCOL
 * reply (every node names the writer identities it holds) and a node fetches
 * any it lacks at once, outside the queues, from the peer that named it;
 * only identities that verify and belong to a writer are kept and named on.
 */
export class WriterIdentities {
  readonly #init: WriterIdentitiesInit
  /** Identity hash → identity id, for identities of writers held here. */
  readonly #known = new Map<string, string>()
  readonly #inFlight = new Set<string>()
  readonly #refused = new Set<string>()
  /** Identity blocks fetched or read and verified (status, tests). */
  learned = 0

  constructor (init: WriterIdentitiesInit) {
    this.#init = init
  }

  /** Hashes of the writer identities held here (what HEAD_PROTOCOL names). */
  hashes (): string[] {
    return [...this.#known.keys()]
  }

  /** True when the identity block under `hash` is a writer's and held here. */
  has (hash: string): boolean {
    return this.#known.has(hash)
  }

  /** Identity hashes a peer named, or an entry carried: those not held yet are fetched in the background. */
  offer (hashes: Iterable<unknown>): void {
    for (const hash of hashes) {
      if (typeof hash !== 'string' || this.#known.has(hash) || this.#inFlight.has(hash) || this.#refused.has(hash)) continue
      if (this.#inFlight.size >= MAX_WRITER_IDENTITIES || this.#init.signal.aborted) return
      this.#inFlight.add(hash)
      this.#learn(hash).catch(err => { this.#init.log.debug({ hash, err: (err as Error).message }, 'writer identity not fetched') })
        .finally(() => { this.#inFlight.delete(hash) })
    }
  }

  /** Resolves once every fetch started so far has ended. */
  async settled (): Promise<void> {
    while (this.#inFlight.size > 0) await new Promise(resolve => setTimeout(resolve, 20))
  }

  async #learn (hash: string): Promise<void> {
    const { read, verify, writers, timeoutMs, signal, log } = this.#init
    const identity = await read(hash, AbortSignal.any([AbortSignal.timeout(timeoutMs), signal]))
    if (identity == null) return
    if (!writers().includes(identity.id) || !(await verify(identity))) {
      this.#refused.add(hash)
      if (this.#refused.size > MAX_REFUSED) this.#refused.delete(this.#refused.keys().next().value!)
      log.debug({ hash, id: identity.id }, 'offered identity is not a valid writer identity')
      return
    }
    this.#known.set(hash, identity.id)
    if (this.#known.size > MAX_WRITER_IDENTITIES) this.#known.delete(this.#known.keys().next().value!)
    this.learned++
    log.debug({ hash, id: identity.id }, 'writer identity held')
  }
}
