import { pino, type Logger, type LoggerOptions } from 'pino'

/** The logger type every room receives; each room takes a child with `{ room }`. */
export type { Logger }

/** Log level used when neither config nor `CHAINSTORE_LOG_LEVEL` names one. */
export const DEFAULT_LOG_LEVEL = 'info'

/**
 * Creates the project's root logger. Logs go to stderr so that `--json` output on
 * stdout stays machine-readable.
 */
export function createLogger (options: LoggerOptions = {}): Logger {
  return pino({
    level: process.env.CHAINSTORE_LOG_LEVEL ?? DEFAULT_LOG_LEVEL,
    base: undefined,
    ...options
  }, pino.destination({ dest: 2, sync: true }))
}
