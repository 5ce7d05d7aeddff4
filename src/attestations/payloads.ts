import { bytesMatchCid } from '../codec/cid.ts'
import { blockKey } from '../storage/keys.ts'
import type { BlocksDb } from '../storage/level.ts'
import { VALIDATOR_SLOT } from './constants.ts'
import { DataKeyUnavailableError, ErasedError, KeyDestroyedError, PayloadNotFoundError, TamperedCiphertextError } from './errors.ts'
import { unframePayload } from './model.ts'
import type { AttestationRecord, PrivatePayload, SlotKeys } from './types.ts'

const utf8 = new TextEncoder()

/** What opening a sealed payload reads. */
export interface PayloadContext {
  blocks: BlocksDb
  keystore: SlotKeys
  /** True when the validator was erased (its key destroyed on purpose). */
  erased: (validator: string) => boolean
}

/** Additional data of a payload's seal: binds the ciphertext to its record, so it cannot be moved to another. */
export function payloadAad (validator: string, height: number): Uint8Array {
  return utf8.encode(`${validator}\0${height}`)
}

export function validatorSlot (validator: string): string {
  return VALIDATOR_SLOT + validator
}

/** A record's private payload: its block re-hashed against the CID, then opened with the validator's data key. */
export async function openPayload (ctx: PayloadContext, record: AttestationRecord): Promise<PrivatePayload> {
  const { validator, height } = record
  if (record.payload == null) throw new PayloadNotFoundError(`attestation of ${validator} at height ${height} holds no payload (none was given, or retention swept it)`)
  const sealed = await ctx.blocks.get(blockKey(record.payload))
  if (sealed == null) throw new PayloadNotFoundError(`payload block of ${validator} at height ${height} is not stored here`)
  if (!bytesMatchCid(record.payload, sealed)) throw new TamperedCiphertextError(`payload of ${validator} at height ${height} does not hash to its CID: altered ciphertext`)
  try {
    return unframePayload(ctx.keystore.openSealed(validatorSlot(validator), sealed, payloadAad(validator, height)))
  } catch (err) {
    if (err instanceof KeyDestroyedError) {
      if (ctx.erased(validator)) throw new ErasedError(`validator ${validator} was erased: its data key is destroyed`, { cause: err })
      throw new DataKeyUnavailableError(`payload of ${validator} at height ${height} was sealed by another node`, { cause: err })
    }
    throw err
  }
}
