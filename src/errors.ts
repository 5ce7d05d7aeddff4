/** Base class of every error chainstore throws; `name` is stable and tests assert on it. */
export class ChainStoreError extends Error {
  constructor (message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
  }
}
