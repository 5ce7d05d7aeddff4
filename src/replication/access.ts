import * as dagCbor from '@ipld/dag-cbor'
import { base58btc } from 'multiformats/bases/base58'
import { cidOf } from '../codec/cid.ts'
import type { Logger } from '../logger.ts'

/** Type name OrbitDB records in database manifests for this controller. */
export const ACCESS_CONTROLLER_TYPE = 'chainstore'

/**
 * Who may append:
 * - `writers`: identities listed in `write` (the validator set);
 * - `own-keys`: any identity, but only key-value operations on keys that start
 *   with its own id and a slash (`observer/peer`), so no writer can overwrite
 *   another's observations.
 */
export type AccessRule = 'writers' | 'own-keys'

/** Why an entry was refused. */
export type RejectReason = 'unknown-identity' | 'forged-identity' | 'not-a-writer' | 'foreign-key' | 'bad-identity' | 'bad-payload'

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
 * only prints a refused entry to the console, STACK-NOTES pitfall 9), reports every
 * refusal to `onReject` and the project's logger, and checks payload shapes so
 * a writer cannot put garbage into the chain index.
 *
 * The write list and rule go into the controller's manifest, so they are part
 * of the database address: peers configured with different validator sets
 * open different databases instead of silently disagreeing.
 */
export function ChainstoreAccessController (options: AccessOptions) {
  const controller = async ({ orbitdb, identities, address }: any) => {
    const write = [...options.write].sort()
    if (address == null) {
      const manifest = dagCbor.encode({ type: ACCESS_CONTROLLER_TYPE, write, rule: options.rule })
      const cid = cidOf(manifest)
      // stored in the node's blockstore like OrbitDB's own controllers do
      await orbitdb.ipfs.blockstore.put(cid, manifest)
      address = `/${ACCESS_CONTROLLER_TYPE}/${cid.toString(base58btc)}`
    }
    const log = options.logger
    const reject = (entry: any, reason: RejectReason, writer?: string): false => {
      const rejection: Rejection = { database: options.database, reason, hash: String(entry.hash), ...(writer != null ? { writer } : {}) }
      log.warn(rejection, 'replicated entry rejected')
      options.onReject(rejection)
      return false
    }
    const canAppend = async (entry: any): Promise<boolean> => {
      const identity = await identities.getIdentity(entry.identity)
      if (identity == null) return reject(entry, 'unknown-identity')
      const id: string = identity.id
      // OrbitDB verifies an entry's signature against the entry's own `key`,
      // and access is decided on the identity its `identity` field names (a
      // public block anyone can point at): unless the two are tied, anyone
      // can claim a validator's identity and sign with a key of their own.
      // The clock id must be that key too (the validator-state fold orders
      // concurrent writes by it). Found by the fault suite (docs/FAULTS.md).
      if (entry.key !== identity.publicKey || entry.clock?.id !== identity.publicKey) return reject(entry, 'forged-identity', id)
      if (options.rule === 'writers' && !write.includes(id)) return reject(entry, 'not-a-writer', id)
      if (options.rule === 'own-keys') {
        const key = entry.payload?.key
        if (typeof key !== 'string' || !key.startsWith(id + '/')) return reject(entry, 'foreign-key', id)
      }
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
