import type { ChainStore } from '../node/chainstore.ts'
import { startProgress, type Progress } from './progress.ts'

/** Heights behind the chain index before a sync shows progress. */
const SHOW_FROM_LAG = 2

/**
 * While a replicating node runs, shows its catch-up as progress on stderr: a
 * bar (TTY) or plain lines from the local head to the chain index's tip, with
 * rate and ETA, each time it falls behind; a line when it is in sync again.
 * Returns a function that stops watching.
 */
export function showSyncProgress (store: ChainStore, write: (line: string) => void = l => process.stderr.write(l + '\n')): () => void {
  let bar: Progress | null = null
  let from = 0
  let said = false
  const check = (): void => {
    const r = store.replication
    if (r == null) return
    const tip = r.fold.tip()?.height ?? -1
    const head = store.head()?.height ?? -1
    // a node that starts (or ends up) in sync says so once
    if (bar == null && !said && tip >= 0 && head >= tip) { said = true; write(`sync: in sync at height ${head}`) }
    if (bar == null && tip - head >= SHOW_FROM_LAG) {
      from = head
      bar = startProgress(`sync to ${tip}`, Math.max(1, tip - from), 'blocks')
    }
    if (bar == null) return
    bar.update(Math.max(0, head - from))
    if (head >= tip) {
      bar.stop()
      bar = null
      write(`sync: in sync at height ${head}`)
      said = true
    }
  }
  // every 200 ms, and at each head change: a catch-up of a few hundred blocks can finish
  // between two ticks, but it moves the head in several imports, the first far below the tip
  const timer = setInterval(check, 200)
  timer.unref()
  store.events.on('head', check)
  return () => { clearInterval(timer); store.events.off('head', check); bar?.stop() }
}
