import { SerialQueue } from './serial.ts'

/**
 * The one open/serial guard of a store-like object (the node, the state
 * store, the attestation store): an open flag whose closed state is a typed
 * error of the owner's choosing, and a serial lock for its writes.
 */
export class OpenGuard {
  readonly #queue = new SerialQueue()
  readonly #closedError: () => Error
  #closed = false

  constructor (closedError: () => Error) {
    this.#closedError = closedError
  }

  /** False once {@link close} was called. */
  get open (): boolean { return !this.#closed }

  /** Throws the owner's closed error once closed. */
  assertOpen (): void {
    if (this.#closed) throw this.#closedError()
  }

  /** Queues `fn` behind earlier work; refused when already closed, or aborted before its turn. Work queued before a close still runs. */
  async serial<T> (fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    this.assertOpen()
    return await this.#queue.run(fn, signal)
  }

  /** Like {@link serial}, and checks again when its turn comes: work queued before a close is refused too. */
  async exclusive<T> (fn: () => Promise<T>): Promise<T> {
    this.assertOpen()
    return await this.#queue.run(async () => { this.assertOpen(); return await fn() })
  }

  /** The lock without the open check (work that must finish, or skip itself, after a close). */
  async run<T> (fn: () => Promise<T>): Promise<T> {
    return await this.#queue.run(fn)
  }

  /** Refuses new work and waits for what is queued. */
  async close (): Promise<void> {
    this.#closed = true
    await this.#queue.idle()
  }
}
