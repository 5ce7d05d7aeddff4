import { join } from 'node:path'
import { ComposedStorage, IPFSBlockStorage, Identities, KeyStore, KeyValue, KeyValueIndexed, LRUStorage, createOrbitDB } from '@orbitdb/core'
import { base58btc } from 'multiformats/bases/base58'
import { CID } from 'multiformats/cid'
import { ChainstoreAccessController, type Rejection } from './access.ts'
import { AttestationLog } from './attestation-log.ts'
import { CHAIN_LOG_REFERENCES } from './constants.ts'
import { checkAnnouncementBatch } from './fold.ts'
import { withFramedHeads } from './framed-heads.ts'
import { IDENTITY_KEY_NAME, NETWORK_DIR, identityKeyFromSeed } from './keys.ts'
import { LwwMap } from './lww.ts'
import { openDatabase } from './open-db.ts'
import { Reputation } from './reputation.ts'
import type { ReplicationContext } from './types.ts'
import { checkValidatorState, type ValidatorState } from './validators.ts'
import { SignatureMemo, identityMemoKey } from './verify.ts'

/**
 * The replicated OrbitDB databases of one node: the chain index (an events
 * log of block announcements), validator state (key-value, folded
 * last-writer-wins), peer reputation (key-value, one key per observer and
 * peer) and, when the node keeps them, attestations. Also the storages
 * OrbitDB reads entries through, so stop can abort reads in flight.
 */
export class Databases {
  orbitdb: any
  chain: any
  validators: any
  reputationDb: any
  /** The attestations log, when the node keeps attestations. */
  attestationLog: AttestationLog | null = null
  reputation!: Reputation
  /** Validator state folded from the validators log, last writer wins (src/replication/lww.ts). */
  readonly validatorState = new LwwMap<ValidatorState>()
  /** OrbitDB identity id of this node (hex public key). */
  identityId = ''
  /** Entry and identity signatures found valid (checks run vs answered from memory). */
  readonly signatures = new SignatureMemo()
  readonly #ctx: ReplicationContext
  readonly #storages: any[] = []

  constructor (ctx: ReplicationContext) {
    this.#ctx = ctx
  }

  /** Opens the keystore and identity and starts OrbitDB on the node's Helia (its head exchange framed). */
  async createOrbit (): Promise<void> {
    const directory = join(this.#ctx.init.dataDir, NETWORK_DIR, 'orbitdb')
    const keystore = await KeyStore({ path: join(directory, 'keystore') })
    const seed = this.#ctx.net.seed
    if (seed != null && !(await keystore.hasKey(IDENTITY_KEY_NAME) as boolean)) {
      await keystore.addKey(IDENTITY_KEY_NAME, { privateKey: identityKeyFromSeed(seed) })
    }
    // entry signatures are checked with native crypto (src/replication/verify.ts):
    // the log verifies entries through the node's own identity object, so the
    // identity gets the fast `verify` too, not only the identities registry
    // both remembered once valid (SignatureMemo): OrbitDB checks the same entry and identity again at every join
    const memo = this.signatures
    const fastVerify = async (signature: string, publicKey: string, data: string | Uint8Array): Promise<boolean> => memo.verify(signature, publicKey, data)
    const base = await Identities({ keystore, storage: await this.#storage() })
    const verifyIdentity = async (identity: any): Promise<boolean> => {
      const key = identityMemoKey(identity)
      if (key != null && memo.remembered(key)) return true
      memo.checked++
      const ok = await base.verifyIdentity(identity) as boolean
      if (ok && key != null) memo.remember(key)
      return ok
    }
    const identities = { ...base, verify: fastVerify, verifyIdentity }
    const identity = { ...(await base.createIdentity({ id: IDENTITY_KEY_NAME })), verify: fastVerify }
    // OrbitDB's head exchange is unframed: it gets the node through
    // withFramedHeads, which frames those streams between chainstore peers and
    // sends stock OrbitDB peers one head per stream (src/replication/framed-heads.ts)
    this.orbitdb = await createOrbitDB({ ipfs: withFramedHeads(this.#ctx.components.helia, { onError: (err, peer) => this.#ctx.log.debug({ peer, err: (err as Error).message }, 'head sent to a stock OrbitDB peer failed') }), id: IDENTITY_KEY_NAME, identities, identity, directory })
    this.identityId = this.orbitdb.identity.id
  }

  /** Opens every database under the access controller that admits the validator set (or this node alone). */
  async open (onReject: (r: Rejection) => void): Promise<void> {
    const { net, log: logger } = this.#ctx
    const writers = this.writers()
    const name = net.name
    this.chain = await openDatabase(this.orbitdb, `${name}.chain`, {
      type: 'events',
      entryStorage: await this.#storage(),
      referencesCount: CHAIN_LOG_REFERENCES,
      AccessController: ChainstoreAccessController({ write: writers, rule: 'writers', database: 'chain', checkPayload: p => checkAnnouncementBatch((p as any)?.value), onReject, logger })
    }, 'chain', logger)
    this.validators = await openDatabase(this.orbitdb, `${name}.validators`, {
      // plain KeyValue: state is read from the LWW fold, not an index
      Database: KeyValue(),
      entryStorage: await this.#storage(),
      AccessController: ChainstoreAccessController({ write: writers, rule: 'writers', database: 'validators', checkPayload: checkValidatorPayload, onReject, logger })
    }, 'validators', logger)
    // the fold follows every entry OrbitDB adds (appends, and joins with the
    // ancestors they bring), then takes in the log as it is on disk
    this.validators.events.on('update', (entry: any) => {
      this.validatorState.applyWithAncestors(this.validators.log, entry).catch(err => logger.warn({ err: (err as Error).message }, 'validator fold'))
    })
    await this.validatorState.applyAll(this.validators.log)
    this.reputationDb = await openDatabase(this.orbitdb, `${name}.reputation`, {
      Database: KeyValueIndexed(),
      entryStorage: await this.#storage(),
      AccessController: ChainstoreAccessController({ write: ['*'], rule: 'own-keys', database: 'reputation', checkPayload: checkReputationPayload, onReject, logger })
    }, 'reputation', logger)
    this.reputation = new Reputation(this.identityId, this.reputationDb, net.minReputation)
    const attestations = this.#ctx.components.attestations()
    if (attestations != null) {
      this.attestationLog = await AttestationLog.open({ orbitdb: this.orbitdb, name, writers, entryStorage: await this.#storage(), store: attestations, selfId: this.identityId, onReject, logger })
    }
  }

  /** Identities allowed to append to the writer-only databases. */
  writers (): string[] {
    return this.#ctx.net.writers.length > 0 ? this.#ctx.net.writers : [this.identityId]
  }

  /**
   * What OrbitDB builds by default for entries and identities (an LRU over
   * Helia's blockstore), kept so `stop` can abort reads in flight.
   */
  async #storage (): Promise<any> {
    const lru = await LRUStorage({ size: 1000 })
    const storage = await ComposedStorage(
      // an entry's bytes are often a view into a larger buffer (a LevelDB
      // read slab, a stream chunk of ~64 KiB): kept as is, each of the 1,000
      // cached entries held its whole buffer (~100 MiB of RSS per node in the
      // soak). The cache keeps a copy of the entry alone.
      { ...lru, put: async (hash: string, data: Uint8Array) => { await lru.put(hash, data.slice()) } },
      // OrbitDB's default timeout (30 s) also bounds local puts, which take
      // seconds on a starved machine; stop() aborts reads via close(). No Helia
      // pins: chainstore never runs Helia's GC, and `pins.add` per entry (a
      // DAG walk and datastore writes) was a third of a joiner's log sync
      await IPFSBlockStorage({ ipfs: this.#ctx.components.helia, pin: false })
    )
    this.#storages.push(storage)
    return storage
  }

  /** The replicated databases by the names HEAD_PROTOCOL uses. */
  byName (): Record<string, any> {
    const dbs: Record<string, any> = { chain: this.chain, validators: this.validators, reputation: this.reputationDb }
    if (this.attestationLog != null) dbs.attestations = this.attestationLog.db
    return dbs
  }

  /** OrbitDB addresses of the three databases. */
  addresses (): { chain: string, validators: string, reputation: string } {
    return { chain: this.chain.address, validators: this.validators.address, reputation: this.reputationDb.address }
  }

  /**
   * Blocks the databases need that no pin record holds: every log entry, the
   * identities that signed them, the database and access-controller
   * manifests. GC keeps these.
   */
  async roots (): Promise<CID[]> {
    const out: CID[] = []
    const parse = (s: string): CID | undefined => { try { return CID.parse(s, base58btc) } catch { return undefined } }
    const identity = parse(this.orbitdb.identity.hash)
    if (identity != null) out.push(identity)
    for (const db of Object.values(this.byName())) {
      for (const address of [String(db.address), String(db.access?.address ?? '')]) {
        const c = parse(address.split('/').pop() ?? '')
        if (c != null) out.push(c)
      }
      for await (const e of db.log.iterator()) {
        const h = parse(e.hash)
        if (h != null) out.push(h)
        const id = typeof e.identity === 'string' ? parse(e.identity) : undefined
        if (id != null) out.push(id)
      }
    }
    return out
  }

  /**
   * Closes the databases and OrbitDB. OrbitDB's close first waits for its
   * queue, where an entry may wait on a network read (an identity or entry
   * not held here) for up to 30 s. When the stop is slow, closing the
   * storages aborts those reads. Not before: an aborted read rejects
   * somewhere inside OrbitDB where nothing catches it, and the unhandled
   * rejection would end the process.
   */
  async close (graceMs: number): Promise<void> {
    await this.attestationLog?.close().catch(() => {})
    const stopping = this.orbitdb?.stop()
    let grace: NodeJS.Timeout | undefined
    const slow = await Promise.race([stopping?.then(() => false), new Promise(resolve => { grace = setTimeout(resolve, graceMs, true) })])
    // a fast stop must not leave the grace timer holding the event loop open for its full length
    clearTimeout(grace)
    if (slow === true) {
      this.#ctx.log.debug('orbitdb stop waits on network reads; aborting them')
      for (const storage of this.#storages) await storage.close().catch(() => {})
    }
    await stopping
  }

  /** Writes a validator's state (writers only; others' writes are refused on every replica). */
  async putValidator (id: string, state: ValidatorState): Promise<void> {
    checkValidatorState(id, state)
    await this.validators.put(id, state)
  }
}

function checkValidatorPayload (p: any): string | undefined {
  if (p?.op === 'DEL') return typeof p.key === 'string' ? undefined : 'validator key'
  if (p?.op !== 'PUT') return 'validators: only PUT and DEL'
  try { checkValidatorState(p.key, p.value) } catch (err) { return (err as Error).message }
  return undefined
}

function checkReputationPayload (p: any): string | undefined {
  if (p?.op !== 'PUT') return 'reputation: only PUT'
  const v = p.value
  if (v == null || !Number.isSafeInteger(v.good) || !Number.isSafeInteger(v.bad) || v.good < 0 || v.bad < 0 || !Number.isSafeInteger(v.at)) return 'reputation observation shape'
  return undefined
}
