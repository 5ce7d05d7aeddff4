import { ChainStoreError } from '../errors.ts'

/** An attestation field is missing, of the wrong type or out of range; `field` names it (a path such as `commitment.digest`). */
export class InvalidAttestationError extends ChainStoreError {
  readonly field: string
  constructor (field: string, message: string, options?: { cause?: unknown }) {
    super(`${field}: ${message}`, options)
    this.field = field
  }
}
/** A raw biometric field (heart rate, EEG, a sample...) was offered: the store keeps commitments only. */
export class RawBiometricFieldError extends InvalidAttestationError {}
/** A commitment secret or salt was offered: it stays with the validator. */
export class CommitmentSecretFieldError extends InvalidAttestationError {}
/** A field the attestation model does not know (refused, so nothing unvetted is stored or replicated). */
export class UnknownFieldError extends InvalidAttestationError {}
/** The same validator and height is stored with different content (an equivocation or a corrupt peer). */
export class AttestationConflictError extends ChainStoreError {}
/** No attestation of that validator at that height. */
export class AttestationNotFoundError extends ChainStoreError {}
/** The attestation has no payload, or its payload was swept by retention. */
export class PayloadNotFoundError extends ChainStoreError {}
/** The validator's data was erased: the key that sealed its payloads is destroyed. */
export class ErasedError extends ChainStoreError {}
/** The payload was sealed under a data key this node does not hold (another node's, or an earlier generation). */
export class DataKeyUnavailableError extends ChainStoreError {}
/** A record kind's data key was destroyed; what it sealed cannot be opened. */
export class KeyDestroyedError extends ChainStoreError {}
/** Ciphertext failed AES-GCM authentication under the right key: it was altered. */
export class TamperedCiphertextError extends ChainStoreError {}
/** No master key: neither the configured file nor the environment variable holds one. */
export class MissingMasterKeyError extends ChainStoreError {}
/** The master key is not 32 bytes written as hex or base64. */
export class InvalidMasterKeyError extends ChainStoreError {}
/** The master key does not open this keystore (its check value or a wrapped key fails authentication). */
export class WrongMasterKeyError extends ChainStoreError {}
/** A replicated batch carries an attestation of a validator other than the batch's signer. */
export class ForeignAttestationError extends ChainStoreError {}
/** An erasure record or replicated batch that does not have the expected shape. */
export class InvalidReplicationRecordError extends ChainStoreError {}
/** Stored attestation bytes that do not decode. */
export class CorruptAttestationError extends ChainStoreError {}
/** The attestation store was closed. */
export class AttestationsClosedError extends ChainStoreError {}
