import type { Logger } from '../logger.ts'
import { ACCESS_CONTROLLER_TYPE, encodeAccessManifest, entryRefusal, type AccessRule, type RejectReason } from './orbitdb-access.ts'
import { RecentDigests, digestOfString } from './recent-digests.ts'

export { ACCESS_CONTROLLER_TYPE, type AccessRule, type RejectReason }

/** Entry hashes an access controller remembers as accepted (CLOCK: one not asked for again goes first). */
const ACCEPTED_MAX = 4096

export interface Rejection {
  database: string
  reason: RejectReason
  /** Entry hash (OrbitDB's base58btc CID string). */
  hash: string
  /** Identity id of the author, when it could be read. */
  writer?: string
}

export interface AccessOptions {
  write: string[]
  rule: AccessRule
  /** Database name, for logs and counts. */
  database: string
  /** Checks an entry's payload beyond who wrote it; return a message to refuse it. */
  checkPayload?: (payload: unknown) => string | undefined
  onReject: (rejection: Rejection) => void
  logger: Logger
}

/**
 * An OrbitDB access controller that, unlike OrbitDB's own (which only
 * prints a refused entry to the console, STACK-NOTES pitfall 9), reports every
 * refusal to `onReject` and the project's logger, and checks payload shapes so
 * a writer cannot put garbage into the chain index.
 *
 * The write list and rule go into the controller's manifest, so they are part
 * of the database address: peers configured with different validator sets
 * open different databases instead of silently disagreeing. The identity
 * rules live in src/replication/orbitdb-access.ts, which stock OrbitDB apps
 * register to follow a chainstore network (`chainstore/orbitdb-access`).
 */
export function ChainstoreAccessController (options: AccessOptions) {
  const controller = async ({ orbitdb, identities, address }: any) => {
    const write = [...options.write].sort()
    if (address == null) {
      const manifest = await encodeAccessManifest(write, options.rule)
      // stored in the node's blockstore like OrbitDB's own controllers do
      await orbitdb.ipfs.blockstore.put(manifest.cid, manifest.bytes)
      address = manifest.address
    }
    const log = options.logger
    const reject = (entry: any, reason: RejectReason, writer?: string): false => {
      const rejection: Rejection = { database: options.database, reason, hash: String(entry.hash), ...(writer != null ? { writer } : {}) }
      log.warn(rejection, 'replicated entry rejected')
      options.onReject(rejection)
      return false
    }
    // OrbitDB asks again for every entry a join passes (the new entry, then each
    // of its `next` and `refs`, already in the log): an entry's hash is
    // computed from its bytes, so an entry accepted once is accepted again
    // (hashes of the hash strings, in memory allocated once: RecentDigests)
    const accepted = new RecentDigests(ACCEPTED_MAX)
    const key = new Uint8Array(32)
    // (a local append asks before the entry has a hash: checked every time)
    const canAppend = async (entry: any): Promise<boolean> => {
      const hash: unknown = entry.hash
      if (typeof hash !== 'string') return await checkEntry(entry)
      if (accepted.has(digestOfString(hash, key))) return true
      if (!(await checkEntry(entry))) return false
      accepted.add(digestOfString(hash, key))
      return true
    }
    const checkEntry = async (entry: any): Promise<boolean> => {
      const identity = await identities.getIdentity(entry.identity)
      if (identity == null) return reject(entry, 'unknown-identity')
      const id: string = identity.id
      // the key and clock tied to the identity, the writer list, own keys (found by the fault suite, docs/FAULTS.md)
      const reason = entryRefusal(entry, identity, { write, rule: options.rule })
      if (reason != null) return reject(entry, reason, id)
      if (!(await identities.verifyIdentity(identity) as boolean)) return reject(entry, 'bad-identity', id)
      const problem = options.checkPayload?.(entry.payload)
      if (problem != null) {
        log.warn({ database: options.database, problem }, 'payload refused')
        return reject(entry, 'bad-payload', id)
      }
      return true
    }
    return { type: ACCESS_CONTROLLER_TYPE, address, write, canAppend }
  }
  controller.type = ACCESS_CONTROLLER_TYPE
  return controller
}
ChainstoreAccessController.type = ACCESS_CONTROLLER_TYPE
