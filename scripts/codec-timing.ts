/**
 * Time of the codec's per-block work, one process, no store: sha2-256 of a
 * 250-byte transaction through node:crypto's one-shot `hash` with a Buffer
 * and with a latin1 string as output, then `encodeBlock` and
 * `blockFromBytes` (every header and page hashed against its CID, decoded)
 * over `N` blocks of the bench chain, a warm round and three timed ones.
 * Run it on two checkouts alternately to compare them (the machine drifts):
 *
 *   N=2000 npx node scripts/codec-timing.ts
 */
import { hash, randomBytes } from 'node:crypto'
import { LIMITS, generateChain } from '../bench/common.ts'
import { encodeBlock } from '../src/codec/encode.ts'
import { blockFromBytes } from '../src/codec/from-bytes.ts'

const N = Math.max(10, Number(process.env.N ?? 2000))

// the hash call alone: 200,000 hashes of 100 different 250-byte inputs
const slab = randomBytes(250 * 100)
const inputs = Array.from({ length: 100 }, (_, i) => new Uint8Array(slab.buffer, slab.byteOffset + i * 250, 250))
const out = Buffer.alloc(32 * 100)
// Buffer's latin1 writer, as src/codec/cid.ts calls it (not in @types/node's Buffer)
const latin1Write = (Buffer.prototype as unknown as { latin1Write: (this: Uint8Array, s: string, offset: number, length: number) => number }).latin1Write
const CALLS = 200_000
const us = (ms: number, n: number): string => (ms / n * 1000).toFixed(2)
for (let r = 0; r < 3; r++) {
  let t = performance.now()
  for (let i = 0; i < CALLS; i++) out.set(hash('sha256', inputs[i % 100], 'buffer'), (i % 100) * 32)
  const buffer = performance.now() - t
  t = performance.now()
  for (let i = 0; i < CALLS; i++) latin1Write.call(out, hash('sha256', inputs[i % 100], 'binary'), (i % 100) * 32, 32)
  const latin1 = performance.now() - t
  console.log(`sha256 of 250 bytes: Buffer output ${us(buffer, CALLS)} µs, latin1 output ${us(latin1, CALLS)} µs`)
}

const blocks = generateChain(N).inputs
const encoded = blocks.map(b => encodeBlock(b, LIMITS))
const received = encoded.map(b => ({ cid: b.cid, header: b.header.bytes, pages: new Map([...b.txPages, ...b.receiptPages].map(p => [p.cid.toString(), p.bytes])) }))
for (let r = 0; r < 4; r++) {
  let t = performance.now()
  for (const b of blocks) encodeBlock(b, LIMITS)
  const enc = performance.now() - t
  t = performance.now()
  for (const x of received) blockFromBytes(x.cid, x.header, c => x.pages.get(c.toString()), LIMITS)
  const fromBytes = performance.now() - t
  console.log(`${r === 0 ? 'warm-up ' : ''}round: encodeBlock ${us(enc, N)} µs/block, blockFromBytes ${us(fromBytes, N)} µs/block`)
}
