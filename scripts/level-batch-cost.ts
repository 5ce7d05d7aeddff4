/**
 * What classic-level's batch costs per operation, with classic-level alone:
 * `ROUNDS` batches of `OPS` puts shaped like a block's index entries
 * (33-byte keys, 414-byte values, views of one off-heap buffer), written
 * as an array batch through abstract-level, straight to the private
 * `_batch`, as a chained batch, and as the store writes them: a pooled
 * native batch (src/storage/native-batch.ts), cleared and reused. "sync" is the time the call takes
 * before it returns its promise (N-API: reading each operation's fields and
 * copying its bytes into a leveldb::WriteBatch, on the JS thread); "total"
 * includes the write on libuv's thread. For docs/UPSTREAM-CLASSIC-LEVEL.md:
 *
 *   OPS=150 ROUNDS=2000 npx node scripts/level-batch-cost.ts
 */
import { randomFillSync } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { nativeBatches } from '../src/storage/native-batch.ts'

const OPS = Math.max(1, Number(process.env.OPS ?? 150))
const ROUNDS = Math.max(1, Number(process.env.ROUNDS ?? 2000))
const KEY = 33
const VALUE = 414

type Put = { type: 'put', key: Uint8Array, value: Uint8Array }
function batchOf (): Put[] {
  const slab = new Uint8Array(OPS * (KEY + VALUE))
  randomFillSync(slab)
  const ops: Put[] = []
  for (let i = 0, at = 0; i < OPS; i++, at += KEY + VALUE) ops.push({ type: 'put', key: slab.subarray(at, at + KEY), value: slab.subarray(at + KEY, at + KEY + VALUE) })
  return ops
}

const dir = mkdtempSync(join(tmpdir(), 'level-batch-cost-'))
const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view', writeBufferSize: 64 * 1024 * 1024 })
await db.open()
try {
  const batches = Array.from({ length: 200 }, batchOf)
  const ways: Record<string, (ops: Put[]) => Promise<void>> = {
    'array batch (db.batch)': async ops => { await db.batch(ops) },
    'array batch (_batch)': async ops => { await (db as unknown as { _batch: (o: Put[], opts: object) => Promise<void> })._batch(ops, {}) },
    'chained batch': async ops => { const b = db.batch(); for (const o of ops) b.put(o.key, o.value); await b.write() }
  }
  const pool = nativeBatches(db)
  if (pool != null) {
    ways['pooled native batch'] = async ops => {
      const b = pool.take()
      for (const o of ops) pool.put(b, o.key, o.value)
      try { await pool.write(b, false) } finally { pool.release(b) }
    }
  }
  for (let round = 1; round <= 2; round++) {
    for (const [name, write] of Object.entries(ways)) {
      let sync = 0
      const started = performance.now()
      for (let r = 0; r < ROUNDS; r++) {
        const t = performance.now()
        const p = write(batches[r % batches.length])
        sync += performance.now() - t
        await p
      }
      const total = performance.now() - started
      console.log(`round ${round}, ${name}: sync ${(sync / ROUNDS / OPS * 1000).toFixed(2)} µs/op, total ${(total / ROUNDS / OPS * 1000).toFixed(2)} µs/op`)
    }
  }
} finally {
  await db.close()
  rmSync(dir, { recursive: true, force: true })
}
