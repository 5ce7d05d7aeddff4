import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { crc32c, unmaskCrc } from './crc32c.ts'
import { snappyUncompress } from './snappy.ts'

/**
 * LevelDB's table files (`.ldb`) checked before LevelDB sees them.
 *
 * Without paranoid checks (classic-level offers no option for them)
 * LevelDB reads table blocks without verifying their CRC: a flipped byte
 * comes back as data, and when a compaction merges a damaged table its
 * keys can arrive out of order and LevelDB's TableBuilder asserts, taking
 * the whole process down (SIGABRT, `table_builder.cc:97`). So the store
 * checks every block's CRC-32C itself (data, index, meta-index and filter
 * blocks; the format is LevelDB's table/format.cc) and refuses to open a
 * data dir with a damaged table: a typed error instead of a crash later.
 *
 * Tables are immutable once written, so a ledger (`checked-tables.json` in
 * the data dir) remembers each checked table's name, size and mtime; the
 * default `changed` mode checks only tables not in it (new since the last
 * open, or rewritten). `all` checks every table (`chainstore verify` does).
 */

/** What a check covers: `changed` tables (not in the ledger), `all`, or nothing (`off`, trusted disk). */
export type TableCheckMode = 'changed' | 'all' | 'off'

/** One table that failed its check. */
export interface DamagedTable {
  file: string
  /** What is wrong (the first problem found). */
  reason: string
  /** Data blocks whose CRC fails, of `blocks` (`blocks` is 0 when the index itself is unreadable). */
  badBlocks: number
  blocks: number
}

/** What a table check did. */
export interface TableCheck {
  tables: number
  checked: number
  bytes: number
  damaged: DamagedTable[]
  ms: number
}

/** The ledger's file name, in the data dir (beside LevelDB's own directory, which RepairDB rewrites). */
export const TABLE_LEDGER = 'checked-tables.json'
const FOOTER_BYTES = 48
const TRAILER_BYTES = 5
const MAGIC_LO = 0x8b80fb57
const MAGIC_HI = 0xdb477524

interface Handle { offset: number, size: number }

function u32 (b: Uint8Array, at: number): number {
  return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0
}

/** A varint (up to 2^53) at `pos`: value and next position; throws past the end. */
function varint (b: Uint8Array, pos: number, end: number): [number, number] {
  let v = 0
  for (let shift = 0; shift < 56; shift += 7) {
    if (pos >= end) throw new RangeError('varint past the end')
    const x = b[pos++]
    v += (x & 0x7f) * 2 ** shift
    if (x < 0x80) return [v, pos]
  }
  throw new RangeError('varint too long')
}

function handleAt (b: Uint8Array, pos: number, end: number): [Handle, number] {
  const [offset, p1] = varint(b, pos, end)
  const [size, p2] = varint(b, p1, end)
  return [{ offset, size }, p2]
}

/** Checks a block's trailer: it lies inside the file and its CRC (over contents and type byte) holds; throws naming the problem. */
function checkBlock (file: Uint8Array, h: Handle): void {
  const end = h.offset + h.size
  if (end + TRAILER_BYTES > file.length) throw new RangeError(`block at ${h.offset} (+${h.size}) runs past the end of the file`)
  if (unmaskCrc(u32(file, end + 1)) !== crc32c(file, h.offset, end + 1)) throw new RangeError(`block at ${h.offset}: checksum mismatch`)
}

/** A block's contents after its CRC and type are checked (snappy blocks uncompressed); throws naming the problem. */
function readBlock (file: Uint8Array, h: Handle): Uint8Array {
  checkBlock(file, h)
  const end = h.offset + h.size
  const type = file[end]
  if (type === 0) return file.subarray(h.offset, end)
  if (type === 1) return snappyUncompress(file.subarray(h.offset, end))
  throw new RangeError(`block at ${h.offset}: unknown block type ${type}`)
}

/** The entries of a block (prefix-compressed keys, restart array at the end). */
function * blockEntries (block: Uint8Array): Generator<{ key: Uint8Array, value: Uint8Array }> {
  if (block.length < 4) throw new RangeError('block shorter than its restart count')
  const restarts = u32(block, block.length - 4)
  const limit = block.length - 4 * (restarts + 1)
  if (limit < 0) throw new RangeError('restart array larger than the block')
  let key = new Uint8Array(0)
  let pos = 0
  while (pos < limit) {
    const [shared, p1] = varint(block, pos, limit)
    const [unshared, p2] = varint(block, p1, limit)
    const [valueLength, p3] = varint(block, p2, limit)
    if (shared > key.length || p3 + unshared + valueLength > limit) throw new RangeError('block entry out of range')
    const next = new Uint8Array(shared + unshared)
    next.set(key.subarray(0, shared))
    next.set(block.subarray(p3, p3 + unshared), shared)
    key = next
    pos = p3 + unshared + valueLength
    yield { key, value: block.subarray(p3 + unshared, pos) }
  }
}

/** The table's footer, index and data-block handles; throws when the footer or index is unreadable. */
function tableLayout (file: Uint8Array): { meta: Handle, dataBlocks: Handle[] } {
  if (file.length < FOOTER_BYTES) throw new RangeError(`${file.length} bytes: shorter than a table footer`)
  const f = file.length - FOOTER_BYTES
  if (u32(file, file.length - 8) !== MAGIC_LO || u32(file, file.length - 4) !== MAGIC_HI) throw new RangeError('bad magic number (footer damaged)')
  const [meta, p] = handleAt(file, f, file.length - 8)
  const [index] = handleAt(file, p, file.length - 8)
  const dataBlocks: Handle[] = []
  for (const { value } of blockEntries(readBlock(file, index))) dataBlocks.push(handleAt(value, 0, value.length)[0])
  return { meta, dataBlocks }
}

/** Checks one table's bytes: null when every block's CRC holds, else what is damaged. */
export function checkTableBytes (file: Uint8Array): Omit<DamagedTable, 'file'> | null {
  let layout
  try { layout = tableLayout(file) } catch (err) { return { reason: `index: ${(err as Error).message}`, badBlocks: 0, blocks: 0 } }
  let reason: string | null = null
  try {
    for (const { value } of blockEntries(readBlock(file, layout.meta))) readBlock(file, handleAt(value, 0, value.length)[0])
  } catch (err) { reason = `meta-index or filter: ${(err as Error).message}` }
  let badBlocks = 0
  for (const h of layout.dataBlocks) {
    try {
      checkBlock(file, h)
    } catch (err) {
      badBlocks++
      reason ??= (err as Error).message
    }
  }
  return reason == null ? null : { reason, badBlocks, blocks: layout.dataBlocks.length }
}

/**
 * Live entries (`put`s, not deletions) of a damaged table's readable data
 * blocks whose user key starts with `prefix`: what can be salvaged of it.
 * The caller verifies each value (a block against its CID) before use.
 */
export function * salvageEntries (file: Uint8Array, prefix: Uint8Array): Generator<{ key: Uint8Array, value: Uint8Array }> {
  let layout
  try { layout = tableLayout(file) } catch { return }
  for (const h of layout.dataBlocks) {
    let block
    try { block = readBlock(file, h) } catch { continue }
    try {
      for (const { key, value } of blockEntries(block)) {
        if (key.length < 8 || key[key.length - 8] !== 1) continue // tag: (sequence << 8) | type; type 1 = value
        const user = key.subarray(0, key.length - 8)
        if (user.length < prefix.length || prefix.some((b, i) => user[i] !== b)) continue
        yield { key: user, value }
      }
    } catch { continue }
  }
}

const LOG_BLOCK = 32_768
const LOG_HEADER = 7

/** The records of a LevelDB log-format file (the MANIFEST): 32 KiB blocks of checksummed fragments. */
function * logRecords (file: Uint8Array): Generator<Uint8Array> {
  let pending: Uint8Array[] = []
  for (let block = 0; block < file.length; block += LOG_BLOCK) {
    const end = Math.min(block + LOG_BLOCK, file.length)
    let pos = block
    while (pos + LOG_HEADER <= end) {
      const length = file[pos + 4] | (file[pos + 5] << 8)
      const type = file[pos + 6]
      if (type === 0 && length === 0) break // zero padding to the end of the block
      const start = pos + LOG_HEADER
      if (start + length > end) throw new RangeError('manifest record runs past its block')
      if (unmaskCrc(u32(file, pos)) !== crc32c(file, pos + 6, start + length)) throw new RangeError('manifest record checksum mismatch')
      const data = file.subarray(start, start + length)
      if (type === 1) yield data // full
      else if (type === 2) pending = [data] // first
      else if (type === 3) pending.push(data) // middle
      else if (type === 4) { pending.push(data); yield Buffer.concat(pending); pending = [] } // last
      else throw new RangeError(`manifest record of unknown type ${type}`)
      pos = start + length
    }
  }
}

/**
 * The table numbers the current MANIFEST names as live (LevelDB's
 * VersionEdits: new files minus deleted ones, db/version_edit.cc), or null
 * when it cannot be read (LevelDB's open then reports it). A table file
 * that is not live is a compaction's output cut short by a crash, or one
 * already replaced: LevelDB never reads it and deletes it at open, so it
 * is not checked.
 */
async function liveTables (location: string): Promise<Set<number> | null> {
  try {
    const current = (await readFile(join(location, 'CURRENT'), 'utf8')).trim()
    if (!/^MANIFEST-\d+$/.test(current)) return null
    const live = new Set<number>()
    for (const edit of logRecords(await readFile(join(location, current)))) {
      let pos = 0
      const slice = (): void => { const [n, p] = varint(edit, pos, edit.length); pos = p + n }
      const num = (): number => { const [n, p] = varint(edit, pos, edit.length); pos = p; return n }
      while (pos < edit.length) {
        const tag = num()
        if (tag === 1) slice() // comparator
        else if (tag === 2 || tag === 3 || tag === 4 || tag === 9) num() // log, next file, last sequence, prev log
        else if (tag === 5) { num(); slice() } // compact pointer: level, key
        else if (tag === 6) { num(); live.delete(num()) } // deleted file: level, number
        else if (tag === 7) { num(); live.add(num()); num(); slice(); slice() } // new file: level, number, size, smallest, largest
        else return null
      }
    }
    return live
  } catch { return null }
}

type Ledger = Record<string, string>
const stamp = (s: { size: number, mtimeMs: number }): string => `${s.size}:${s.mtimeMs}`

async function readLedger (path: string): Promise<Ledger> {
  try {
    const parsed = JSON.parse(await readFile(path, 'utf8'))
    return parsed != null && typeof parsed.tables === 'object' ? parsed.tables as Ledger : {}
  } catch { return {} }
}

/**
 * Checks the tables of the LevelDB at `location` (see the module comment);
 * records the sound ones in the data dir's ledger. A ledger that cannot be
 * written (a read-only data dir) is left as it was.
 */
export async function checkTables (dataDir: string, location: string, mode: TableCheckMode): Promise<TableCheck> {
  const started = performance.now()
  const out: TableCheck = { tables: 0, checked: 0, bytes: 0, damaged: [], ms: 0 }
  if (mode === 'off') return out
  let names: string[]
  try { names = (await readdir(location)).filter(n => n.endsWith('.ldb') || n.endsWith('.sst')) } catch { return out }
  // only tables the manifest names: a crash mid-compaction leaves a partial table LevelDB never reads (and deletes at open)
  const live = await liveTables(location)
  if (live != null) names = names.filter(n => live.has(Number(n.slice(0, n.indexOf('.')))))
  const ledgerPath = join(dataDir, TABLE_LEDGER)
  const ledger = mode === 'all' ? {} : await readLedger(ledgerPath)
  const next: Ledger = {}
  for (const name of names.sort()) {
    let s
    try { s = await stat(join(location, name)) } catch { continue } // removed by a compaction meanwhile
    out.tables++
    if (ledger[name] === stamp(s)) { next[name] = ledger[name]; continue }
    let bytes
    try { bytes = await readFile(join(location, name)) } catch { continue }
    out.checked++
    out.bytes += bytes.length
    const damage = checkTableBytes(bytes)
    if (damage == null) next[name] = stamp(s)
    else out.damaged.push({ file: name, ...damage })
  }
  if (out.checked > 0 || Object.keys(next).length !== Object.keys(ledger).length) {
    try {
      await writeFile(`${ledgerPath}.tmp`, JSON.stringify({ version: 1, tables: next }))
      await rename(`${ledgerPath}.tmp`, ledgerPath)
    } catch {}
  }
  out.ms = performance.now() - started
  return out
}

/**
 * Moves damaged tables out of LevelDB's directory into
 * `<dataDir>/damaged/<time>/` and rebuilds LevelDB's manifest from what is
 * left (LevelDB's RepairDB, which also turns the write-ahead log into a
 * table). Returns the directory the tables went to; what they held is
 * lost from the store until a repair fetches it back or salvages it.
 */
export async function quarantineTables (dataDir: string, location: string, damaged: DamagedTable[]): Promise<string> {
  const dir = join(dataDir, 'damaged', new Date().toISOString().replace(/[:.]/g, '-'))
  await mkdir(dir, { recursive: true })
  for (const t of damaged) await rename(join(location, t.file), join(dir, t.file))
  const { ClassicLevel } = await import('classic-level')
  await ClassicLevel.repair(location)
  return dir
}
