/**
 * What each class of key in the store's write set costs LevelDB: records
 * the puts `storeBlocks` makes for `N` blocks of the bench chain (100
 * transactions each, 10 blocks per batch, with the store's own batch
 * builders, as the bench's same-keys baseline does), prints puts and bytes
 * per transaction by key prefix, then writes variants of that write set to
 * fresh raw classic-level databases and prints tx/s for each:
 *
 * - `all`: the store's write set as it is;
 * - `no tx records`: without the covering transaction records (prefix 0x05);
 * - `no windows`: without the postings windows (0x13-0x15);
 * - `neither`, `IPLD only`: without both, and the header + pages alone;
 * - `tx records: location only`: each record cut to its first 8 bytes;
 * - `tx records: 9-byte key, 6-byte value`: the least one put per
 *   transaction can carry (an id prefix and a height + index).
 *
 * Each variant runs `ROUNDS` times (default 3) in turn; compare within a
 * run, since this machine moves ±30 % between runs.
 *
 *   N=2000 npx node scripts/write-set-classes.ts
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LIMITS, benchChain, openRaw, recordStoreBatches, type RawBatch } from '../bench/common.ts'
import { encodeBlock } from '../src/codec/encode.ts'
import { PREFIX } from '../src/storage/keys.ts'

const blocks = Number(process.env.N ?? 2000)
const rounds = Number(process.env.ROUNDS ?? 3)
const txs = blocks * 100
const batches = recordStoreBatches(benchChain().take(blocks, LIMITS).map(b => encodeBlock(b, LIMITS)), 10)

/** Sublevel keys start with '!' (the blocks sublevel); every index key with its one-byte prefix. */
const classOf = (key: Uint8Array): string => key[0] === 0x21 ? 'blocks' : '0x' + key[0].toString(16).padStart(2, '0')
const WINDOWS = [PREFIX.ADDRESS_WINDOW, PREFIX.LOG_ADDRESS_WINDOW, PREFIX.LOG_TOPIC_WINDOW].map(p => '0x' + p.toString(16).padStart(2, '0'))
const TX = '0x' + PREFIX.TX.toString(16).padStart(2, '0')

const classes = new Map<string, { puts: number, bytes: number }>()
for (const b of batches) {
  for (let i = 0; i < b.keys.length; i++) {
    const c = classes.get(classOf(b.keys[i])) ?? { puts: 0, bytes: 0 }
    c.puts++
    c.bytes += b.keys[i].length + b.values[i].length
    classes.set(classOf(b.keys[i]), c)
  }
}
console.log(`${blocks} blocks, ${txs} transactions; per transaction, by key class:`)
for (const [name, c] of [...classes].sort((a, b) => b[1].puts - a[1].puts)) {
  console.log(`  ${name.padEnd(6)} ${(c.puts / txs).toFixed(3)} puts  ${(c.bytes / txs).toFixed(0).padStart(4)} bytes`)
}

/** The write set with each entry mapped (or dropped when `map` returns null). */
function variant (map: (key: Uint8Array, value: Uint8Array) => [Uint8Array, Uint8Array] | null): RawBatch[] {
  return batches.map(b => {
    const keys: Uint8Array[] = []
    const values: Uint8Array[] = []
    let bytes = 0
    for (let i = 0; i < b.keys.length; i++) {
      const kv = map(b.keys[i], b.values[i])
      if (kv == null) continue
      keys.push(kv[0])
      values.push(kv[1])
      bytes += kv[0].length + kv[1].length
    }
    return { keys, values, bytes }
  })
}
const drop = (names: string[]) => variant((k, v) => names.includes(classOf(k)) ? null : [k, v])
const variants: Record<string, RawBatch[]> = {
  all: batches,
  'no tx records': drop([TX]),
  'no windows': drop(WINDOWS),
  neither: drop([TX, ...WINDOWS]),
  'IPLD only': variant((k, v) => classOf(k) === 'blocks' ? [k, v] : null),
  'tx records: location only': variant((k, v) => classOf(k) === TX ? [k, v.subarray(0, 8)] : [k, v]),
  'tx records: 9-byte key, 6-byte value': variant((k, v) => classOf(k) === TX ? [k.subarray(0, 9), v.subarray(0, 6)] : [k, v])
}

for (let r = 1; r <= rounds; r++) {
  for (const [name, set] of Object.entries(variants)) {
    const dir = mkdtempSync(join(tmpdir(), 'write-set-'))
    const db = await openRaw(dir)
    const started = performance.now()
    for (const b of set) {
      const batch = db.batch()
      for (let i = 0; i < b.keys.length; i++) batch.put(b.keys[i], b.values[i])
      await batch.write()
    }
    const ms = performance.now() - started
    await db.close()
    rmSync(dir, { recursive: true, force: true })
    const puts = set.reduce((n, b) => n + b.keys.length, 0)
    console.log(`round ${r}  ${name.padEnd(38)} ${(puts / txs).toFixed(2)} puts/tx  ${Math.round(txs / ms * 1000).toLocaleString('en-US').padStart(9)} tx/s`)
  }
}
