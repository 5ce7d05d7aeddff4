import { setImmediate as nextTurn } from 'node:timers/promises'

/**
 * Longest stretch of synchronous work a bulk write does before it lets the
 * event loop run (HTTP requests, timers, replication): a 20-block batch of
 * 100-tx blocks encodes for ~70 ms, which a `/status` request waited out
 * whole.
 */
export const SLICE_MS = 8

/** A clock for one bulk operation: `maybeYield()` gives the event loop a turn once `SLICE_MS` of work has run since the last one. */
export function slicer (): { maybeYield: () => Promise<void> | undefined } {
  let since = performance.now()
  return {
    maybeYield () {
      const now = performance.now()
      if (now - since < SLICE_MS) return undefined
      return nextTurn().then(() => { since = performance.now() })
    }
  }
}
