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
import { LIMITS, generateChain, rebuild, receivedOf } from '../bench/common.ts'
import { sha256Into } from '../src/codec/cid.ts'
import { encodeBlock } from '../src/codec/encode.ts'

const N = Math.max(10, Number(process.env.N ?? 2000))

// the hash call alone: 200,000 hashes of 100 different 250-byte inputs
const slab = randomBytes(250 * 100)
const inputs = Array.from({ length: 100 }, (_, i) => new Uint8Array(slab.buffer, slab.byteOffset + i * 250, 250))
const out = Buffer.alloc(32 * 100)
const CALLS = 200_000
const us = (ms: number, n: number): string => (ms / n * 1000).toFixed(2)
for (let r = 0; r < 3; r++) {
  let t = performance.now()
  for (let i = 0; i < CALLS; i++) out.set(hash('sha256', inputs[i % 100], 'buffer'), (i % 100) * 32)
  const buffer = performance.now() - t
  t = performance.now()
  for (let i = 0; i < CALLS; i++) sha256Into(inputs[i % 100], out, (i % 100) * 32)
  const latin1 = performance.now() - t
  console.log(`sha256 of 250 bytes: Buffer output ${us(buffer, CALLS)} µs, latin1 output written in place (sha256Into) ${us(latin1, CALLS)} µs`)
}

const blocks = generateChain(N).inputs
const encoded = blocks.map(b => encodeBlock(b, LIMITS))
const received = encoded.map(receivedOf)
for (let r = 0; r < 4; r++) {
  let t = performance.now()
  for (const b of blocks) encodeBlock(b, LIMITS)
  const enc = performance.now() - t
  t = performance.now()
  for (const x of received) rebuild(x, LIMITS)
  const fromBytes = performance.now() - t
  console.log(`${r === 0 ? 'warm-up ' : ''}round: encodeBlock ${us(enc, N)} µs/block, blockFromBytes ${us(fromBytes, N)} µs/block`)
}
