import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import type { CID } from 'multiformats/cid'
import { DamagedTablesError, InvalidDataDirError, StoreLockedError, StoreOpenError, StoreReadOnlyError, WriteFailedError } from './errors.ts'
import { BLOCKS_SUBLEVEL, blockKey } from './keys.ts'
import { checkTables, type TableCheck, type TableCheckMode } from './tables.ts'
import type { WriteBatch } from './types.ts'
import { MAX_LARGE_BYTES, MAX_POOLED_BYTES, nativeBatches, type NativeBatch } from './native-batch.ts'

/** The root database: binary keys and values. */
export type RootDb = ClassicLevel<Uint8Array, Uint8Array>
function blocksOf (db: RootDb) {
  return db.sublevel<string, Uint8Array>(BLOCKS_SUBLEVEL, { keyEncoding: 'utf8', valueEncoding: 'view' })
}

/** The blocks sublevel, in blockstore-level's key format. */
export type BlocksDb = ReturnType<typeof blocksOf>

/** Subdirectory of the data dir that holds the LevelDB files. */
export const LEVEL_DIR = 'level'

/**
 * True when another process holds LevelDB's lock. Only classic-level's code
 * (or LevelDB's own "lock <path>: …" message): a data dir that cannot be
 * written fails on `<path>/LOCK: Permission denied`, which names the lock
 * file but is no lock held by anyone.
 */
function isLocked (err: unknown): boolean {
  for (let e: any = err; e != null; e = e.cause) {
    if (e.code === 'LEVEL_LOCKED' || /^IO error: lock /.test(String(e.message))) return true
  }
  return false
}

/** errno codes and LevelDB messages of a directory that cannot be written. */
const READ_ONLY_CODES = new Set(['EACCES', 'EPERM', 'EROFS'])
const READ_ONLY_MESSAGE = /Permission denied|Operation not permitted|Read-only file system/

function isReadOnly (err: unknown): boolean {
  for (let e: any = err; e != null; e = e.cause) {
    if (READ_ONLY_CODES.has(e.code) || (e.code === 'LEVEL_IO_ERROR' && READ_ONLY_MESSAGE.test(String(e.message)))) return true
  }
  return false
}

/** errno codes of a path that cannot be (or hold) a directory. */
const NOT_A_DIR_CODES = new Set(['ENOTDIR', 'EEXIST', 'EISDIR', 'ENAMETOOLONG'])

function readOnly (dataDir: string, err: unknown): StoreReadOnlyError {
  return new StoreReadOnlyError(`data dir ${dataDir} cannot be written (read-only file system, immutable, or no write permission): ${innermost(err)}`, { cause: err })
}

/** The deepest cause's message (classic-level's outer one is only "Database failed to open"). */
function innermost (err: unknown): string {
  let e: any = err
  while (e?.cause != null) e = e.cause
  return String(e?.message ?? e)
}

/** LevelDB tuning the config exposes. */
export interface LevelTuning {
  writeBufferSize: number
  cacheSize: number
  /** Which table files are checked before LevelDB opens (storage/tables.ts); default `changed`. */
  checkTables?: TableCheckMode
  /** Snappy for table blocks (LevelDB's default); false writes them as they are. */
  compression?: boolean
}

/** The error a damaged table check becomes: names each table and what to run. */
export function damagedTables (dataDir: string, check: TableCheck): DamagedTablesError {
  const list = check.damaged.map(t => `${t.file} (${t.reason}${t.blocks > 0 ? `; ${t.badBlocks} of ${t.blocks} data blocks` : ''})`).join(', ')
  return new DamagedTablesError(`data dir ${dataDir}: ${check.damaged.length} LevelDB table file(s) fail their checksums: ${list}; the store does not open on damaged tables — run \`chainstore verify --repair\` to set them aside, keep their sound blocks and fetch back the rest`, check.damaged)
}

/** Opens (creating if missing) the node's LevelDB; a second process gets StoreLockedError. */
export async function openLevel (dataDir: string, tuning: LevelTuning): Promise<{ db: RootDb, blocks: BlocksDb, logDamage: LogDamage | null, tables: TableCheck }> {
  const location = join(dataDir, LEVEL_DIR)
  try {
    await mkdir(location, { recursive: true })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? ''
    if (NOT_A_DIR_CODES.has(code)) throw new InvalidDataDirError(`data dir ${dataDir} cannot be a directory (${code}: a file is in the way or the name is too long)`, { cause: err })
    if (isReadOnly(err)) throw readOnly(dataDir, err)
    throw new StoreOpenError(`cannot create data dir ${dataDir}: ${(err as Error).message}`, { cause: err })
  }
  const tables = await checkTables(dataDir, location, tuning.checkTables ?? 'changed')
  if (tables.damaged.length > 0) throw damagedTables(dataDir, tables)
  const db = new GuardedLevel(location, { keyEncoding: 'view', valueEncoding: 'view', writeBufferSize: tuning.writeBufferSize, cacheSize: tuning.cacheSize, compression: tuning.compression ?? true })
  try {
    await db.open()
  } catch (err) {
    if (isLocked(err)) throw new StoreLockedError(`data dir ${dataDir} is in use by another process (LevelDB lock held)`, { cause: err })
    if (isReadOnly(err)) throw readOnly(dataDir, err)
    throw new StoreOpenError(`cannot open data dir ${dataDir}: ${innermost(err)}`, { cause: err })
  }
  return { db, blocks: blocksOf(db), logDamage: await recoveryDamage(location), tables }
}

/** The private write methods of classic-level that every write ends in. */
interface LevelWrites {
  _put: (key: Uint8Array, value: Uint8Array, options: object) => Promise<void>
  _del: (key: Uint8Array, options: object) => Promise<void>
  _batch: (ops: unknown[], options: object) => Promise<void>
  _clear: (options: object) => Promise<void>
  _chainedBatch: () => { _write: (options: object) => Promise<void> }
}
const level = ClassicLevel.prototype as unknown as LevelWrites

/** Runs one write of `db` under the fail-stop rule (see failedWrites). */
async function guarded (db: RootDb, write: () => Promise<void>): Promise<void> {
  assertWritable(db)
  try {
    await write()
  } catch (err) {
    markWriteFailed(db, err)
    throw err
  }
  // a write already on its way to LevelDB when another one failed lands
  // after the gap in the log and is lost at the next open just the same:
  // it succeeded, but it is not acknowledged
  assertWritable(db)
}

/**
 * The store's LevelDB: every write fails stop (see failedWrites), whichever
 * code path it takes. Sublevels, kv namespaces, the audit log, the keystore,
 * the state trie and chained batches all end in the root's private `_put`,
 * `_del`, `_batch`, `_clear` or a chained batch's `_write`, so those are
 * overridden here (the store's own batches, written natively by
 * {@link startBatch}, go through {@link guarded} themselves). Checking
 * only the block batches and kv writes was not enough: the fault suite's
 * transient write EIO, landing on the audit log's background write (its failure is logged, not thrown), left the gap
 * unnoticed; the next block batches were acknowledged and a reopen lost
 * them (435 of 711 acknowledged writes over 20 injection points). A
 * subclass, not methods assigned to the instance, so the database object
 * keeps the one shape its class gives it on the hot paths.
 */
class GuardedLevel extends ClassicLevel<Uint8Array, Uint8Array> {}
// set on the prototype rather than declared as members: the overrides stay
// out of the class's type, so a GuardedLevel is still a RootDb to the
// compiler (abstract-level's `this`-typed batch signatures make a subclass
// with extra public members unassignable to its base under TypeScript 5)
Object.assign(GuardedLevel.prototype, {
  async _put (this: RootDb, key: Uint8Array, value: Uint8Array, options: object): Promise<void> {
    await guarded(this, async () => { await level._put.call(this, key, value, options) })
  },
  async _del (this: RootDb, key: Uint8Array, options: object): Promise<void> {
    await guarded(this, async () => { await level._del.call(this, key, options) })
  },
  async _batch (this: RootDb, ops: unknown[], options: object): Promise<void> {
    await guarded(this, async () => { await level._batch.call(this, ops, options) })
  },
  /** Range deletes (a migration, the state store's flat rebuild) write LevelDB's log too. */
  async _clear (this: RootDb, options: object): Promise<void> {
    await guarded(this, async () => { await level._clear.call(this, options) })
  },
  /** Chained batches are rare (migrations, GC, state rebuilds): their write is wrapped per batch. */
  _chainedBatch (this: RootDb): ReturnType<LevelWrites['_chainedBatch']> {
    const b = level._chainedBatch.call(this)
    const write = b._write.bind(b)
    b._write = async options => { await guarded(this, async () => { await write(options) }) }
    return b
  }
} satisfies LevelWrites)

/** What LevelDB dropped of its write-ahead log while recovering it at open. */
export interface LogDamage {
  /** Bytes of log records dropped. */
  droppedBytes: number
  /** Log records (or runs of them) dropped. */
  drops: number
  /** The first few lines LevelDB wrote about it. */
  lines: string[]
}

/**
 * Reads what LevelDB reported while recovering its log at this open.
 * Without paranoid checks (classic-level offers no option for them) LevelDB
 * skips log records it cannot read ("dropping N bytes; Corruption: …") and
 * opens anyway, losing every write in them; it says so only in the info log
 * (`LOG`, started afresh at each open, the previous one kept as `LOG.old`).
 */
export async function recoveryDamage (location: string): Promise<LogDamage | null> {
  let text: string
  try { text = await readFile(join(location, 'LOG'), 'utf8') } catch { return null }
  let droppedBytes = 0
  let drops = 0
  const lines: string[] = []
  for (const line of text.split('\n')) {
    const m = /dropping (\d+) bytes; Corruption/.exec(line)
    if (m == null) continue
    droppedBytes += Number(m[1])
    drops++
    if (lines.length < 5) lines.push(line.replace(/^\S+ \S+ /, ''))
  }
  return drops === 0 ? null : { droppedBytes, drops, lines }
}

/**
 * Databases whose write failed. LevelDB drops its log writer's buffer when a
 * log write(2) fails: a later batch can still be written (and acknowledged)
 * but lands misaligned in the log, and recovery at the next open discards it
 * as corrupt (the fault suite's transient-EIO case lost 131 of 167
 * acknowledged writes). So after one failed write the store fails stop:
 * every later write is refused until the data dir is reopened.
 */
const failedWrites = new WeakMap<object, Error>()
/** Called once, at a database's first failed write (see {@link onWriteFailure}). */
const failureListeners = new WeakMap<object, (err: Error) => void>()

/** The error that made `db` refuse writes, or null while it is writable. */
export function writeFailure (db: RootDb): Error | null {
  return failedWrites.get(db) ?? null
}

/** Runs `fn` once when a write to `db` fails and the store starts refusing writes (the store logs it). */
export function onWriteFailure (db: RootDb, fn: (err: Error) => void): void {
  failureListeners.set(db, fn)
}

/** Throws when an earlier write to this database failed (see failedWrites). */
export function assertWritable (db: RootDb): void {
  const failed = failedWrites.get(db)
  if (failed != null) throw new WriteFailedError(`an earlier write failed (${failed.message}); writes are refused until the store is reopened, so nothing can be acknowledged that LevelDB's log would not recover`, { cause: failed })
}

/**
 * Marks a database as failed after a write error LevelDB reported from disk
 * (LEVEL_IO_ERROR, LEVEL_CORRUPTION; see failedWrites). Errors before the
 * write reached LevelDB (a value that does not encode, a closed store) leave
 * it writable.
 */
export function markWriteFailed (db: RootDb, err: unknown): void {
  for (let e: any = err; e != null; e = e.cause) {
    if (e.code === 'LEVEL_IO_ERROR' || e.code === 'LEVEL_CORRUPTION') {
      if (failedWrites.has(db)) return
      const failure = err instanceof Error ? err : new Error(String(err))
      failedWrites.set(db, failure)
      failureListeners.get(db)?.(failure)
      return
    }
  }
}

/** One atomic batch: root-keyspace entries, blocks, and the write. */
export type StoreBatch = WriteBatch & {
  delBlock: (key: string) => void
  write: (sync: boolean) => Promise<void>
  length: number
  /** Runs `fn` once the batch is written (not when the write fails). */
  afterWrite: (fn: () => void) => void
}

/**
 * Starts one atomic batch over the root keyspace and the blocks sublevel.
 * Entries go straight into one of the database's pooled native batches
 * (src/storage/native-batch.ts: one N-API call and one copy per entry, the
 * native memory reused, not left for V8 to collect). A batch that grows
 * past the pool's size limit moves to the database's one large native
 * batch (its entries so far put again); one past that batch's limit, or
 * while another write holds it, or on a database whose native batch cannot
 * be reached, is written as one array batch, which frees its native copy
 * as soon as the write returns. The entries are kept by reference for that.
 * Block keys are prefixed here (the root-keyspace key of blockstore-level's
 * key in the blocks sublevel) so every entry is plain bytes. An entry's
 * bytes may be copied when it is added: change nothing after adding it.
 */
export function startBatch (db: RootDb, blocks: BlocksDb): StoreBatch {
  const pool = nativeBatches(db)
  let native: NativeBatch | null = null
  /** `native` is the database's large batch. */
  let large = false
  /** The entries go to the array batch only (past the large batch's limit, or it was taken). */
  let arrayOnly = pool == null
  let bytes = 0
  // by reference, for the array batch: a del has an undefined value
  const keys: Uint8Array[] = []
  const values: Array<Uint8Array | undefined> = []
  const written: Array<() => void> = []
  const prefix = blocks.prefix
  const rootKey = (key: string): Uint8Array => Buffer.from(prefix + key, 'latin1')
  const putNative = (batch: NativeBatch, key: Uint8Array, value: Uint8Array | undefined): void => {
    if (value == null) pool!.del(batch, key)
    else pool!.put(batch, key, value)
  }
  const add = (key: Uint8Array, value: Uint8Array | undefined): void => {
    keys.push(key)
    values.push(value)
    if (arrayOnly) return
    bytes += key.byteLength + (value?.byteLength ?? 0)
    if (bytes > (large ? MAX_LARGE_BYTES : MAX_POOLED_BYTES)) {
      if (native != null) pool!.release(native)
      // one entry can carry a batch past both limits at once
      native = large || bytes > MAX_LARGE_BYTES ? null : pool!.takeLarge()
      large = native != null
      if (native == null) { arrayOnly = true; return }
      // the entries so far (this one included) again, into the large batch
      for (let i = 0; i < keys.length; i++) putNative(native, keys[i], values[i])
      return
    }
    native ??= pool!.take()
    putNative(native, key, value)
  }
  const reset = (): void => {
    if (native != null) pool!.release(native)
    native = null
    large = false
    arrayOnly = pool == null
    bytes = 0
    keys.length = 0
    values.length = 0
  }
  return {
    put (key, value) { add(key, value) },
    del (key) { add(key, undefined) },
    putBlock (cid: CID, bytes: Uint8Array) { add(rootKey(blockKey(cid)), bytes) },
    /** Deletes a block by its blocks-sublevel key. */
    delBlock (key: string) { add(rootKey(key), undefined) },
    get length () { return keys.length },
    afterWrite (fn) { written.push(fn) },
    async write (sync: boolean) {
      try {
        // the binding writes through the database's handle unchecked: only while it is open
        if (native != null && db.status === 'open') {
          const batch = native
          await guarded(db, async () => { await pool!.write(batch, sync) })
        } else if (keys.length > 0) {
          await db.batch(keys.map((key, i) => values[i] == null ? { type: 'del' as const, key } : { type: 'put' as const, key, value: values[i] }), { sync })
        }
      } catch (err) {
        // the root database fails stop on its own (GuardedLevel, guarded)
        if (err instanceof WriteFailedError) throw err
        throw new WriteFailedError(`LevelDB batch of ${keys.length} entries failed: ${(err as Error).message}`, { cause: err })
      } finally {
        reset()
      }
      for (const fn of written.splice(0)) fn()
    }
  }
}

/** What maintenance code (backup, integrity checks and repair, migrations) works on. */
export interface MaintenanceAccess {
  db: RootDb
  blocks: BlocksDb
  sync: boolean
  /** Runs `fn` under the store's write lock (no other write, pin or GC meanwhile). */
  exclusive: <T>(fn: () => Promise<T>) => Promise<T>
  /** Reloads what the store keeps in memory (head, finalized height, memory tier) after a rewrite and checks the chain again. */
  afterRepair: () => Promise<void>
}
