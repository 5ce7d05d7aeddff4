import { EXIT } from './exit.ts'

/**
 * SIGINT and SIGTERM stop a running node: the first runs `shutdown` (which
 * exits when done), a second one while it runs exits at once with 130 and
 * says so, for the operator whose stop hangs on a peer or a disk.
 */
export function onStopSignals (shutdown: () => Promise<void>): void {
  let stopping = false
  const onSignal = (signal: NodeJS.Signals): void => {
    if (!stopping) {
      stopping = true
      process.stderr.write(`${signal}: stopping (press Ctrl-C again to force)\n`)
      void shutdown()
      return
    }
    process.stderr.write(`${signal} again: exiting without waiting for the stop to finish\n`)
    process.exit(EXIT.INTERRUPTED)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
}
