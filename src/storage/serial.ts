/**
 * Runs async functions one at a time, in call order; one that fails does not
 * stop the ones queued after it. The store's writes, the state's commits and
 * the attestation store's batches each go through one.
 */
export class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve()

  /** Queues `fn`; with `signal`, an abort before its turn refuses it without running. */
  async run<T> (fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const run = this.#tail.then(async () => {
      signal?.throwIfAborted()
      return await fn()
    })
    this.#tail = run.catch(() => {})
    return await run
  }

  /** Resolves once everything queued so far has run. */
  async idle (): Promise<void> {
    await this.#tail
  }
}
