import { pino, type Logger, type LoggerOptions } from 'pino'

/** The logger type every room receives; each room takes a child with `{ room }`. */
export type { Logger }

/** Log level used when neither config nor `CHAINSTORE_LOG_LEVEL` names one. */
export const DEFAULT_LOG_LEVEL = 'info'

/** `json`: one pino JSON object per line; `pretty`: a line a person reads (local time, level name, room, message, fields). */
export type LogFormat = 'json' | 'pretty'

/** Options of {@link createLogger}: pino's, and the line format. */
export type CreateLoggerOptions = LoggerOptions & { format?: LogFormat }

/**
 * What else writes to stderr between log lines (the CLI's progress bar):
 * `before` clears its line, `after` draws it again, so the two never
 * garble each other.
 */
let interleave: { before: () => void, after: () => void } | null = null

/** Registers (or with null, removes) what runs around every pretty log line. */
export function setLogInterleave (hooks: { before: () => void, after: () => void } | null): void {
  interleave = hooks
}

/**
 * Creates the project's root logger. Logs go to stderr so that `--json` output on
 * stdout stays machine-readable. JSON unless `format: 'pretty'` (the CLI picks
 * pretty on a TTY; `CHAINSTORE_LOG_FORMAT` overrides it).
 */
export function createLogger (options: CreateLoggerOptions = {}): Logger {
  const { format = 'json', ...pinoOptions } = options
  const opts: LoggerOptions = { level: process.env.CHAINSTORE_LOG_LEVEL ?? DEFAULT_LOG_LEVEL, base: undefined, ...pinoOptions }
  if (format === 'pretty') return pino(opts, { write: (line: string) => { writeLine(prettyLine(line)) } })
  return pino(opts, pino.destination({ dest: 2, sync: true }))
}

function writeLine (text: string): void {
  interleave?.before()
  process.stderr.write(text)
  interleave?.after()
}

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' }
const LEVEL_COLOURS: Record<number, string> = { 10: '90', 20: '36', 30: '32', 40: '33', 50: '31', 60: '35' }

/** One pino JSON line as `HH:MM:SS.mmm LEVEL room: message key=value …` (colour on a TTY). */
export function prettyLine (json: string, colour = process.stderr.isTTY === true): string {
  let o: Record<string, unknown>
  try { o = JSON.parse(json) } catch { return json }
  const { level, time, room, msg, err, ...fields } = o
  const d = new Date(typeof time === 'number' ? time : Date.now())
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0')
  const stamp = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`
  const name = (LEVEL_NAMES[level as number] ?? String(level)).padEnd(5)
  const lvl = colour ? `\x1b[${LEVEL_COLOURS[level as number] ?? '0'}m${name}\x1b[0m` : name
  const rest = Object.entries(fields).map(([k, v]) => `${k}=${typeof v === 'string' ? (/[\s"]/.test(v) ? JSON.stringify(v) : v) : JSON.stringify(v)}`)
  const error = err != null && typeof err === 'object' ? `\n    ${String((err as { stack?: string, message?: string }).stack ?? (err as { message?: string }).message).split('\n').join('\n    ')}` : ''
  return `${stamp} ${lvl} ${room != null ? `${String(room)}: ` : ''}${String(msg ?? '')}${rest.length > 0 ? ' ' + rest.join(' ') : ''}${error}\n`
}
