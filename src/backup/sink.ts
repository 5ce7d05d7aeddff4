import type { BackupDestination } from './types.ts'

/** Where a stream of bytes goes: chunks in order, then `end` (or `abort`, and nothing is kept). */
export interface ChunkSink {
  push: (chunk: Uint8Array) => Promise<void>
  end: () => Promise<void>
  abort: (err: unknown) => Promise<void>
}

/**
 * One producer to one consumer: at most `max` chunks wait, then `push`
 * waits for the consumer (backpressure, so an upload slower than the store
 * holds the writer back instead of filling memory). `fail` makes the
 * consumer's iteration throw (an upload aborts, nothing is kept); `close`
 * tells the producer the consumer is gone.
 */
export class Channel implements AsyncIterable<Uint8Array> {
  readonly #max: number
  readonly #queue: Uint8Array[] = []
  #ended = false
  #error: { err: unknown } | undefined
  #closed: { err: unknown } | undefined
  #wakeConsumer: (() => void) | undefined
  #wakeProducer: (() => void) | undefined

  constructor (max: number) {
    this.#max = max
  }

  #wake (which: 'consumer' | 'producer'): void {
    const w = which === 'consumer' ? this.#wakeConsumer : this.#wakeProducer
    if (which === 'consumer') this.#wakeConsumer = undefined
    else this.#wakeProducer = undefined
    w?.()
  }

  async push (chunk: Uint8Array): Promise<void> {
    while (this.#queue.length >= this.#max && this.#closed == null) await new Promise<void>(resolve => { this.#wakeProducer = resolve })
    if (this.#closed != null) throw this.#closed.err
    this.#queue.push(chunk)
    this.#wake('consumer')
  }

  end (): void { this.#ended = true; this.#wake('consumer') }

  fail (err: unknown): void { this.#error ??= { err }; this.#wake('consumer') }

  close (err: unknown): void { this.#closed ??= { err }; this.#wake('producer') }

  async * [Symbol.asyncIterator] (): AsyncGenerator<Uint8Array> {
    try {
      while (true) {
        if (this.#error != null) throw this.#error.err
        const chunk = this.#queue.shift()
        if (chunk != null) { this.#wake('producer'); yield chunk; continue }
        if (this.#ended) return
        await new Promise<void>(resolve => { this.#wakeConsumer = resolve })
      }
    } finally {
      this.close(new Error('the destination stopped reading'))
    }
  }
}

/**
 * One object written to several destinations at once from one stream of
 * chunks. A destination whose write fails drops out (its error is kept)
 * and the rest go on; `push` and `end` throw only when none is left.
 */
interface Target { dest: BackupDestination, channel: Channel, done: Promise<void>, error?: Error }

export class FanoutSink implements ChunkSink {
  readonly #targets: Target[]

  constructor (dests: BackupDestination[], key: string, options: { max: number, signal?: AbortSignal }) {
    this.#targets = dests.map(dest => {
      const channel = new Channel(options.max)
      const t: Target = { dest, channel, done: Promise.resolve() }
      t.done = dest.write(key, channel, { signal: options.signal }).then(() => {}, err => { t.error ??= err as Error; channel.close(err) })
      return t
    })
  }

  #live (): Target[] { return this.#targets.filter(t => t.error == null) }

  #noneLeft (): Error | undefined {
    return this.#live().length === 0 ? this.#targets[0]?.error ?? new Error('no destination') : undefined
  }

  async push (chunk: Uint8Array): Promise<void> {
    await Promise.all(this.#live().map(async t => { await t.channel.push(chunk).catch(err => { t.error ??= err as Error }) }))
    const err = this.#noneLeft()
    if (err != null) throw err
  }

  async end (): Promise<void> {
    for (const t of this.#live()) t.channel.end()
    await Promise.all(this.#targets.map(async t => { await t.done }))
    const err = this.#noneLeft()
    if (err != null) throw err
  }

  async abort (err: unknown): Promise<void> {
    for (const t of this.#targets) t.channel.fail(err)
    await Promise.all(this.#targets.map(async t => { await t.done }))
  }

  /** The destinations whose write failed, with why. */
  failures (): Map<BackupDestination, Error> {
    return new Map(this.#targets.filter(t => t.error != null).map(t => [t.dest, t.error!]))
  }
}
