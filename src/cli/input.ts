import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { InvalidArgumentError } from 'commander'
import { DataDirNotFoundError, InvalidDataDirError, StoreOpenError } from '../storage/errors.ts'
import { LEVEL_DIR } from '../storage/level.ts'
import { parseConfig, type ChainStoreConfig } from '../config/index.ts'
import { InputFileNotFoundError, InvalidInputFileError, InvalidOutputFileError, InvalidPathError, PathNotFoundError, PathNotPermittedError } from './errors.ts'

/** errno codes of a path that names no readable (or writable) regular file. */
const BAD_PATH_CODES = new Set(['ENOTDIR', 'EISDIR', 'ENAMETOOLONG', 'EEXIST', 'ELOOP'])
const NOT_WRITABLE_CODES = new Set(['EACCES', 'EPERM', 'EROFS'])

/** A commander option parser for an integer in [min, max]; commander reports a throw as a usage error. */
export function intOption (min: number, max = Number.MAX_SAFE_INTEGER): (raw: string) => number {
  return (raw: string): number => {
    const n = /^\d+$/.test(raw.trim()) ? Number(raw) : NaN
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected an integer from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : ''}, got "${raw.slice(0, 40)}"`)
    return n
  }
}

/**
 * The JSON value of an input file, or a typed error saying what is wrong with
 * it: missing, not a file, empty, binary, a UTF-8 byte-order mark, or JSON
 * that does not parse (cut short or not JSON at all).
 */
export async function readJsonFile (file: string): Promise<unknown> {
  let bytes: Buffer
  try {
    bytes = await readFile(file)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? ''
    if (code === 'ENOENT') throw new InputFileNotFoundError(`${file}: no such file`, { cause: err })
    if (BAD_PATH_CODES.has(code)) throw new InvalidInputFileError(`${file}: not a readable file (${code})`, { cause: err })
    throw new InvalidInputFileError(`${file}: cannot be read (${code || (err as Error).message})`, { cause: err })
  }
  if (bytes.length === 0) throw new InvalidInputFileError(`${file} is empty; expected a block (JSON object) or an array of blocks`)
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) throw new InvalidInputFileError(`${file} starts with a UTF-8 byte-order mark, which JSON does not allow; save it without the BOM`)
  if (bytes.includes(0)) throw new InvalidInputFileError(`${file} is binary (it holds NUL bytes); expected JSON text`)
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch (err) {
    throw new InvalidInputFileError(`${file} is not UTF-8 text; expected JSON`, { cause: err })
  }
  if (text.trim() === '') throw new InvalidInputFileError(`${file} holds only whitespace; expected a block (JSON object) or an array of blocks`)
  try {
    return JSON.parse(text)
  } catch (err) {
    const cut = /end of (JSON )?input|Unterminated/i.test((err as Error).message)
    throw new InvalidInputFileError(`${file} is ${cut ? 'cut short' : 'not valid JSON'}: ${(err as Error).message}`, { cause: err })
  }
}

/** A typed error for a failed write of an output file the user named. */
export function outputFileError (file: string, err: unknown): Error {
  const code = (err as NodeJS.ErrnoException).code ?? ''
  if (code === 'ENOENT' || BAD_PATH_CODES.has(code)) return new InvalidOutputFileError(`cannot write ${file} (${code}: its directory is missing, a file is in the way, or the name is too long)`, { cause: err })
  if (NOT_WRITABLE_CODES.has(code)) return new InvalidOutputFileError(`cannot write ${file} (${code}: no write permission or a read-only file system)`, { cause: err })
  return err as Error
}

/**
 * Refuses a data dir that holds no store, for commands that only read or
 * change an existing store: opening it would create an empty store there
 * (a mistyped `-d` would then answer "empty" instead of an error).
 */
export async function assertStoreExists (dataDir: string): Promise<void> {
  const level = join(dataDir, LEVEL_DIR)
  try {
    if ((await stat(level)).isDirectory()) return
    throw new InvalidDataDirError(`data dir ${dataDir}: ${level} is not a directory`)
  } catch (err) {
    if ((err as Error).name === 'InvalidDataDirError') throw err
    const code = (err as NodeJS.ErrnoException).code ?? ''
    if (code === 'ENOENT') throw new DataDirNotFoundError(`no store in data dir ${dataDir} (no ${LEVEL_DIR}/ directory); check -d / dataDir, or create one with chainstore init`, { cause: err })
    if (BAD_PATH_CODES.has(code)) throw new InvalidDataDirError(`data dir ${dataDir} is not a directory (${code})`, { cause: err })
    if (NOT_WRITABLE_CODES.has(code)) throw new StoreOpenError(`data dir ${dataDir} cannot be read (${code}: no permission)`, { cause: err })
    throw err
  }
}

/**
 * A file system error that reached the CLI untyped (a backup directory that
 * is a file, a name too long, …) as a typed error naming the path; other
 * errors as they are.
 */
export function typedFsError (err: unknown): unknown {
  const e = err as NodeJS.ErrnoException
  if (typeof e?.code !== 'string' || typeof e.syscall !== 'string') return err
  const where = `${e.path != null ? `${e.path}: ` : ''}${e.code} (${e.syscall})`
  if (BAD_PATH_CODES.has(e.code)) return new InvalidPathError(`${where}: a file is in the way, a directory was expected to be a file, or the name is too long`, { cause: err })
  if (e.code === 'ENOENT') return new PathNotFoundError(`${where}: no such file or directory`, { cause: err })
  if (NOT_WRITABLE_CODES.has(e.code)) return new PathNotPermittedError(`${where}: not permitted (permissions, an immutable file or a read-only file system)`, { cause: err })
  return err
}

/** A commander option collector: a repeatable option's values in order. */
export const collect = (value: string, previous: string[]): string[] => [...previous, value]

/**
 * The config with replication switched on and `--peer` / `--writer` added to
 * what the config file lists (the file's own peers and writers are kept).
 */
export function withNetworkOptions (cfg: ChainStoreConfig, opts: { peer: string[], writer: string[], listen?: string }): ChainStoreConfig {
  if (opts.peer.length === 0 && opts.writer.length === 0 && opts.listen == null) return cfg
  const net = cfg.network
  return parseConfig({
    ...cfg,
    network: {
      ...net,
      enabled: true,
      peers: [...new Set([...net.peers, ...opts.peer])],
      writers: [...new Set([...net.writers, ...opts.writer])],
      listen: opts.listen != null ? [opts.listen] : net.listen
    }
  })
}
