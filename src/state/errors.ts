import { ChainStoreError } from '../errors.ts'

/** A state key that is not a Uint8Array of STATE_KEY_BYTES bytes. */
export class InvalidStateKeyError extends ChainStoreError {}
/** An account record with a field out of range (negative balance, fractional nonce, unknown status...). */
export class InvalidAccountError extends ChainStoreError {}
/** A height that is not a non-negative safe integer, or a commit not above the head. */
export class InvalidStateHeightError extends ChainStoreError {}
/** No state root is recorded at that height (rollback, prove, export). */
export class UnknownStateHeightError extends ChainStoreError {}
/** A proof that does not lead from the given root to the key (wrong root, wrong key, tampered node). */
export class InvalidProofError extends ChainStoreError {}
/** A trie node the walk needs is not in the store. */
export class MissingStateNodeError extends ChainStoreError {}
/** Stored state bytes that do not decode (trie node, account record, root entry). */
export class CorruptStateError extends ChainStoreError {}
/** The operation needs a state without uncommitted changes, or a height free of roots. */
export class StateConflictError extends ChainStoreError {}
/** The state store was closed. */
export class StateClosedError extends ChainStoreError {}

/** Base of every snapshot refusal; the subclass names what is wrong. */
export class SnapshotError extends ChainStoreError {}
/** A block whose bytes do not hash to its CID (a bit flip), or bytes that are not a CAR at all. */
export class SnapshotCorruptError extends SnapshotError {}
/** The file ends inside a block, or before the manifest. */
export class SnapshotTruncatedError extends SnapshotError {}
/** A trie node under the root is not in the file. */
export class SnapshotIncompleteError extends SnapshotError {}
/** The manifest is missing, malformed, or disagrees with the blocks (counts, root). */
export class SnapshotManifestError extends SnapshotError {}
