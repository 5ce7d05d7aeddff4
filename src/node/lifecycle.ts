/** A part of the node with a start and/or a stop (js-libp2p's Startable, both optional). */
export interface Startable {
  readonly name: string
  start?: () => Promise<void> | void
  stop?: () => Promise<void> | void
}

/**
 * One start/stop lifecycle over an ordered list of parts: `start` runs them
 * in order, `stop` stops the started ones in reverse order (every one, even
 * after a failure; the first error is rethrown once all have stopped).
 */
export class Lifecycle {
  readonly #parts: Startable[] = []
  readonly #started: Startable[] = []

  /** Appends a part; it starts after, and stops before, every part added earlier. */
  add (part: Startable): void {
    this.#parts.push(part)
  }

  /** Starts the parts not yet started, in order. */
  async start (): Promise<void> {
    for (const part of this.#parts) {
      if (this.#started.includes(part)) continue
      await part.start?.()
      this.#started.push(part)
    }
  }

  /** Stops the started parts in reverse order. */
  async stop (): Promise<void> {
    let first: unknown
    while (this.#started.length > 0) {
      const part = this.#started.pop()!
      try {
        await part.stop?.()
      } catch (err) {
        first ??= err
      }
    }
    if (first != null) throw first
  }
}
