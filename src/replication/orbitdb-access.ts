/**
 * chainstore's OrbitDB access controller, for apps that run stock
 * `@orbitdb/core` 4 and follow a chainstore network (`chainstore/orbitdb-access`).
 *
 * This module stands alone: it imports @ipld/dag-cbor and multiformats and
 * nothing else of chainstore, so an app can register it without loading
 * chainstore's store, libp2p set-up or logger:
 *
 * ```js
 * import { createOrbitDB, useAccessController, KeyValue } from '@orbitdb/core'
 * import { followerAccessController } from 'chainstore/orbitdb-access'
 * useAccessController(followerAccessController({ onReject: r => appLogger.warn({ rejection: r }, 'entry refused') }))
 * const orbitdb = await createOrbitDB({ ipfs: helia })
 * const chain = await orbitdb.open(addresses.chain)                                   // events
 * const validators = await orbitdb.open(addresses.validators, { Database: KeyValue() })
 * ```
 *
 * The rules are the ones chainstore nodes apply (src/replication/access.ts
 * builds on them); a follower also refuses its own appends, so it stays
 * read-only. Payload shapes, which chainstore nodes check as well, are the
 * app's to check (`checkPayload`).
 */
import * as dagCbor from '@ipld/dag-cbor'
import { base58btc } from 'multiformats/bases/base58'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'

/**
 * Base of the errors this module throws; `name` is stable. It does not extend
 * chainstore's ChainStoreError on purpose: the module stands alone.
 */
export class OrbitdbAccessError extends Error {
  constructor (message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
  }
}

/** A controller address whose manifest is not chainstore's, or whose bytes do not hash to the address. */
export class AccessManifestError extends OrbitdbAccessError {
  readonly address: string
  constructor (address: string, message: string, options?: { cause?: unknown }) {
    super(`access controller manifest ${address}: ${message}`, options)
    this.address = address
  }
}

/** A follower was asked to create a chainstore database; chainstore nodes create them, followers open them by address. */
export class FollowerCannotCreateError extends OrbitdbAccessError {}

/** Type name OrbitDB records in database manifests for chainstore's controller. */
export const ACCESS_CONTROLLER_TYPE = 'chainstore'

/**
 * Who may append:
 * - `writers`: identities listed in `write` (the validator set);
 * - `own-keys`: any identity, but only key-value operations on keys that start
 *   with its own id and a slash (`observer/peer`), so no writer can overwrite
 *   another's observations.
 */
export type AccessRule = 'writers' | 'own-keys'

/** Why a chainstore node refused an entry. */
export type RejectReason = 'unknown-identity' | 'forged-identity' | 'not-a-writer' | 'foreign-key' | 'bad-identity' | 'bad-payload'

/** Why a follower refused an entry: chainstore's reasons, and its own appends (`read-only`). */
export type FollowerRejectReason = RejectReason | 'read-only'

/** What the controller's manifest holds (part of every database address). */
export interface AccessManifest {
  type: typeof ACCESS_CONTROLLER_TYPE
  write: string[]
  rule: AccessRule
}

/** The manifest's block (dag-cbor, the write list sorted) and its address `/chainstore/<CID, base58btc>`. */
export async function encodeAccessManifest (write: string[], rule: AccessRule): Promise<{ bytes: Uint8Array, cid: CID, address: string }> {
  const bytes = dagCbor.encode({ type: ACCESS_CONTROLLER_TYPE, write: [...write].sort(), rule })
  const cid = CID.createV1(dagCbor.code, await sha256.digest(bytes))
  return { bytes, cid, address: `/${ACCESS_CONTROLLER_TYPE}/${cid.toString(base58btc)}` }
}

/** The manifest named by a controller address, read through the node's blockstore (bitswap fetches it from a chainstore peer). */
export async function readAccessManifest (ipfs: { blockstore: { get: (cid: CID, options?: { signal?: AbortSignal }) => any } }, address: string, options: { signal?: AbortSignal } = {}): Promise<AccessManifest> {
  let cid: CID
  try { cid = CID.parse(address.split('/').pop() ?? '', base58btc) } catch (err) { throw new AccessManifestError(address, 'not a CID', { cause: err }) }
  const got = await ipfs.blockstore.get(cid, options)
  // Helia 7's blockstore yields chunks; older blockstores return the bytes
  const chunks: Uint8Array[] = []
  if (got instanceof Uint8Array) chunks.push(got)
  else for await (const c of got as AsyncIterable<Uint8Array>) chunks.push(c)
  const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0))
  chunks.reduce((at, c) => { bytes.set(c, at); return at + c.length }, 0)
  const digest = (await sha256.digest(bytes)).bytes
  if (cid.multihash.code !== sha256.code || digest.length !== cid.multihash.bytes.length || !digest.every((b, i) => b === cid.multihash.bytes[i])) throw new AccessManifestError(address, 'bytes do not hash to the address')
  let m: Partial<AccessManifest>
  try { m = dagCbor.decode(bytes) } catch (err) { throw new AccessManifestError(address, 'not dag-cbor', { cause: err }) }
  if (m?.type !== ACCESS_CONTROLLER_TYPE || !Array.isArray(m.write) || !m.write.every(w => typeof w === 'string') || (m.rule !== 'writers' && m.rule !== 'own-keys')) {
    throw new AccessManifestError(address, 'not chainstore\'s')
  }
  return { type: ACCESS_CONTROLLER_TYPE, write: m.write, rule: m.rule }
}

/**
 * The identity rules, on an entry and the identity its `identity` field
 * names: undefined when they admit it, else why not.
 *
 * OrbitDB verifies an entry's signature against the entry's own `key`, and
 * access is decided on the identity its `identity` field names (a public
 * block anyone can point at): unless the two are tied, anyone can claim a
 * validator's identity and sign with a key of their own. The clock id must
 * be that key too (the validator-state fold orders concurrent writes by it).
 */
export function entryRefusal (entry: any, identity: { id: string, publicKey: string }, manifest: Pick<AccessManifest, 'write' | 'rule'>): RejectReason | undefined {
  if (entry.key !== identity.publicKey || entry.clock?.id !== identity.publicKey) return 'forged-identity'
  if (manifest.rule === 'writers' && !manifest.write.includes(identity.id)) return 'not-a-writer'
  if (manifest.rule === 'own-keys') {
    const key = entry.payload?.key
    if (typeof key !== 'string' || !key.startsWith(identity.id + '/')) return 'foreign-key'
  }
  return undefined
}

/** Identity gets in flight, per OrbitDB `identities` instance and identity hash. */
const identitiesInFlight = new WeakMap<object, Map<string, Promise<any>>>()

/**
 * `identities.getIdentity(hash)`, with gets of one hash in flight at once
 * made a single get. The three databases of a chainstore network are written
 * by the same identities, so a follower that opens them together asks for a
 * writer's identity block from several joins at once; with @helia/bitswap 4 a
 * second get of a CID that starts while the first one's block is being
 * stored re-uses a cancelled want and waits until its signal aborts
 * (OrbitDB: 30 s), dropping that head (docs/PITFALLS.md).
 */
export async function getIdentityOnce (identities: { getIdentity: (hash: string) => Promise<any> }, hash: string): Promise<any> {
  let inFlight = identitiesInFlight.get(identities)
  if (inFlight == null) identitiesInFlight.set(identities, inFlight = new Map())
  let get = inFlight.get(hash)
  if (get == null) {
    const map = inFlight
    get = identities.getIdentity(hash).finally(() => { map.delete(hash) })
    inFlight.set(hash, get)
  }
  return await get
}

/** A refused entry, as a follower's `onReject` gets it. */
export interface FollowerRejection {
  reason: FollowerRejectReason
  /** Entry hash (OrbitDB's base58btc CID string). */
  hash: string
  /** Identity id of the author, when it could be read. */
  writer?: string
  /** The controller's address (one per database). */
  address: string
}

/** An OrbitDB access controller as OrbitDB calls it, with the type it is registered under. */
export type AccessControllerFactory = ((params: { orbitdb: any, identities: any, address?: string }) => Promise<{ type: string, address: string, write: string[], canAppend: (entry: any) => Promise<boolean> }>) & { type: string }

/** Options of {@link ChainstoreFollowerAccessController}. */
export interface FollowerOptions {
  /** Called for every refused entry (OrbitDB itself only prints refusals to the console). */
  onReject?: (rejection: FollowerRejection) => void
  /** Checks an entry's payload beyond who wrote it; return a message to refuse it. */
  checkPayload?: (payload: unknown, manifest: AccessManifest) => string | undefined
  /** Let this node append when the rules admit its identity (default false: read-only). */
  writable?: boolean
}

/**
 * The access controller for `useAccessController` in a stock OrbitDB app:
 * opens chainstore databases by address (it reads the write list and rule
 * from the controller manifest), admits what chainstore nodes admit, and
 * refuses every append of this node's own identity unless `writable`.
 */
export function ChainstoreFollowerAccessController (options: FollowerOptions = {}): AccessControllerFactory {
  const controller = async ({ orbitdb, identities, address }: { orbitdb: any, identities: any, address?: string }) => {
    if (address == null) throw new FollowerCannotCreateError('chainstore databases are created by chainstore nodes: open one by its address')
    const manifest = await readAccessManifest(orbitdb.ipfs, address)
    const self: string | undefined = orbitdb.identity?.id
    const refuse = (entry: any, reason: FollowerRejectReason, writer?: string): false => {
      options.onReject?.({ reason, hash: String(entry.hash), address, ...(writer != null ? { writer } : {}) })
      return false
    }
    const canAppend = async (entry: any): Promise<boolean> => {
      const identity = await getIdentityOnce(identities, entry.identity)
      if (identity == null) return refuse(entry, 'unknown-identity')
      const id: string = identity.id
      if (options.writable !== true && id === self) return refuse(entry, 'read-only', id)
      const reason = entryRefusal(entry, identity, manifest)
      if (reason != null) return refuse(entry, reason, id)
      if (!(await identities.verifyIdentity(identity) as boolean)) return refuse(entry, 'bad-identity', id)
      if (options.checkPayload?.(entry.payload, manifest) != null) return refuse(entry, 'bad-payload', id)
      return true
    }
    return { type: ACCESS_CONTROLLER_TYPE, address, write: manifest.write, canAppend }
  }
  controller.type = ACCESS_CONTROLLER_TYPE
  return controller
}
ChainstoreFollowerAccessController.type = ACCESS_CONTROLLER_TYPE

/**
 * The controller with options, in the shape `useAccessController` takes
 * (OrbitDB calls a registered controller with no arguments when it opens a
 * database by address): `useAccessController(followerAccessController({ onReject }))`.
 * Without options, `useAccessController(ChainstoreFollowerAccessController)` does.
 */
export function followerAccessController (options: FollowerOptions): (() => AccessControllerFactory) & { type: string } {
  return Object.assign(() => ChainstoreFollowerAccessController(options), { type: ACCESS_CONTROLLER_TYPE })
}

/** The OrbitDB address of a database manifest (`/orbitdb/<CID, base58btc>`), as `orbitdb.open(name)` makes it. */
async function databaseAddress (name: string, type: string, accessController: string): Promise<string> {
  const bytes = dagCbor.encode({ name, type, accessController })
  return `/orbitdb/${CID.createV1(dagCbor.code, await sha256.digest(bytes)).toString(base58btc)}`
}

/**
 * The addresses of a chainstore network's databases, from its name
 * (`network.name`) and writers (`network.writers`, or the one node's
 * identity when that list is empty), without asking a node. The manifests
 * say `events` for all three: chainstore opens validators and reputation
 * with a Database (KeyValue, KeyValueIndexed) and no type, and OrbitDB then
 * records its default type.
 */
export async function chainstoreAddresses (network: { name: string, writers: string[] }): Promise<{ chain: string, validators: string, reputation: string }> {
  const writers = await encodeAccessManifest(network.writers, 'writers')
  const anyone = await encodeAccessManifest(['*'], 'own-keys')
  return {
    chain: await databaseAddress(`${network.name}.chain`, 'events', writers.address),
    validators: await databaseAddress(`${network.name}.validators`, 'events', writers.address),
    reputation: await databaseAddress(`${network.name}.reputation`, 'events', anyone.address)
  }
}
