import { readdirSync } from 'node:fs'
import { setPriority } from 'node:os'
import { InvalidConfigError } from './config/errors.ts'

/** Nice value {@link lowerBackgroundThreads} gives by default (0 is normal, 19 the lowest priority). */
export const BACKGROUND_NICE = 10

/** How often a running {@link lowerBackgroundThreads} looks for threads started since. */
const RESCAN_MS = 10_000

/** What {@link lowerBackgroundThreads} returns. */
export interface BackgroundThreads {
  /** Threads the last scan gave the nice value. */
  readonly lowered: number
  /** Stops looking for new threads; those lowered stay lowered (raising a nice value back needs privileges). */
  stop: () => void
}

/**
 * Gives every thread of this process but the main one the nice value `nice`
 * (Linux: one `setpriority` per thread id from /proc/self/task; elsewhere
 * nothing), and does the same every 10 s for threads started since.
 *
 * The main thread runs the event loop: every read, every HTTP request and
 * the encoding of each batch. On a small machine it competes for cores with
 * LevelDB's write and compaction threads (libuv workers, and one thread
 * LevelDB starts from them) and V8's GC helpers; a synchronous read that is
 * preempted waits for the scheduler. With those at nice 10, measured on 2
 * cores while the same process ingests (scripts/reads-during-ingest.ts,
 * four runs each): `getBlockSync` p99 0.5-2.1 ms against 1.7-5.8 ms, ingest
 * 43-45k tx/s against 34-45k. The threads still get every core the main
 * thread leaves idle.
 *
 * A process-wide setting, so the library never applies it by itself: the
 * `chainstore start` node does (`CHAINSTORE_BACKGROUND_NICE`, 0 to turn it
 * off), and an application that embeds chainstore calls it if its main
 * thread is the one to favour. It is for one node on a machine: devnet
 * peers, many processes sharing 2 cores, do not use it (at 12 peers the
 * replication lag got worse, p99 19.5-24.7 s against 15.1-17.0 s in two
 * runs each, bench/README.md; presumably every peer's LevelDB writes then
 * wait behind all the other peers' main threads). Threads that a lowered thread starts
 * inherit its nice value.
 */
export function lowerBackgroundThreads (nice: number = BACKGROUND_NICE, options: { rescanMs?: number } = {}): BackgroundThreads {
  if (!Number.isInteger(nice) || nice < 0 || nice > 19) throw new RangeError(`nice: expected an integer from 0 to 19, got ${String(nice)}`)
  let lowered = 0
  // every scan sets every thread again (a few syscalls): a thread id the kernel reuses for a new thread is covered too
  const scan = (): void => {
    let tids: string[]
    try {
      tids = readdirSync('/proc/self/task')
    } catch {
      return // not Linux, or /proc not mounted: nothing to do
    }
    let n = 0
    for (const name of tids) {
      const tid = Number(name)
      if (tid === process.pid) continue
      try {
        setPriority(tid, nice)
        n++
      } catch {
        // the thread ended between the listing and the call
      }
    }
    lowered = n
  }
  if (nice > 0) scan()
  const timer = nice > 0 ? setInterval(scan, options.rescanMs ?? RESCAN_MS) : undefined
  timer?.unref()
  return {
    get lowered () { return lowered },
    stop () { if (timer != null) clearInterval(timer) }
  }
}

/** The nice value `CHAINSTORE_BACKGROUND_NICE` asks for (unset: {@link BACKGROUND_NICE}; 0: leave threads alone). */
export function backgroundNiceFromEnv (env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.CHAINSTORE_BACKGROUND_NICE
  if (raw == null || raw === '') return BACKGROUND_NICE
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 0 || n > 19) throw new InvalidConfigError(`CHAINSTORE_BACKGROUND_NICE: expected an integer from 0 to 19, got "${raw}"`)
  return n
}
