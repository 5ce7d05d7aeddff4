import { ChainStoreError } from '../errors.ts'

/** A `quorum`/`all` write did not get enough confirmations in time; the block stays stored and queued. */
export class QuorumNotReachedError extends ChainStoreError {
  readonly confirmed: string[]
  readonly needed: number
  constructor (message: string, confirmed: string[], needed: number) {
    super(message)
    this.confirmed = confirmed
    this.needed = needed
  }
}

/** A peer broke a chainstore protocol: bytes that do not hash to their CID, malformed or oversized messages. */
export class PeerMisbehavedError extends ChainStoreError {
  readonly peer: string
  constructor (peer: string, message: string, options?: ErrorOptions) {
    super(`peer ${peer}: ${message}`, options)
    this.peer = peer
  }
}

/** A request on a chainstore protocol that the remote refused or could not answer. */
export class ProtocolRequestError extends ChainStoreError {}

/** The network part of the store is not running (config `network.enabled` is false). */
export class NetworkDisabledError extends ChainStoreError {}

/** A libp2p node handed in by the embedding application lacks what chainstore needs (its `pubsub` or `identify` service). */
export class HostLibp2pError extends ChainStoreError {}
