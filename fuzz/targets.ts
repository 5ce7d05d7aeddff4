/**
 * Fuzz targets: every decoder that reads bytes from the network or the disk.
 * Each declares which errors are its documented answer to bad bytes; any
 * other throw is a crash.
 */
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as dagCbor from '@ipld/dag-cbor'
import * as dagPb from '@ipld/dag-pb'
import { CarBufferWriter } from '@ipld/car'
import { lpStream, streamPair } from '@libp2p/utils'
import { CID } from 'multiformats/cid'
import { cidOf, RAW } from '../src/codec/cid.ts'
import { decodeHeader, decodeReceipt, decodeTx, decodeTxPage, fromStoredTx } from '../src/codec/decode.ts'
import type { StoredTx } from '../src/codec/validate.ts'
import { encodeBlock } from '../src/codec/encode.ts'
import { decodeReceiptPageFast, decodeTxPageFast, decodeTxPageToApi } from '../src/codec/fast-cbor.ts'
import { blockFromBytes, cborItemEnd, headerLinks, splitCborArray } from '../src/codec/from-bytes.ts'
import { linksOf, ETH_STATE_TRIE } from '../src/codec/links.ts'
import { parseConfig } from '../src/config/index.ts'
import { ChainStoreError } from '../src/errors.ts'
import { decodeBlockRecord, decodeLogRecord, decodeTxRecord, encodeBlockRecord, encodeTxRecord } from '../src/indexes/records.ts'
import { decodePinValue } from '../src/pinning/records.ts'
import { readCar } from '../src/backup/car.ts'
import { decodeFrames, encodeFrame } from '../src/replication/framed-heads.ts'
import { requestHead } from '../src/replication/head-protocol.ts'
import { fetchBlocks, fetchLog, requestAck } from '../src/replication/protocol.ts'
import { SyntheticChain } from '../src/synthetic/chain.ts'
import type { FuzzTarget } from './engine.ts'

const LIMITS = parseConfig({}).limits

/** A few real blocks: headers, pages, transactions, receipts. */
function sample (): ReturnType<typeof encodeBlock>[] {
  const chain = new SyntheticChain({ seed: 42, txsPerBlock: [1, 12], addresses: 20, dataBytes: 24 })
  return chain.take(4, LIMITS).map(b => encodeBlock(b, LIMITS))
}
const BLOCKS = sample()
const HEADERS = BLOCKS.map(b => b.header.bytes)
const TX_PAGES = BLOCKS.flatMap(b => b.txPages.map(p => p.bytes))
const RECEIPT_PAGES = BLOCKS.flatMap(b => b.receiptPages.map(p => p.bytes))

/** Values as comparable text: byte arrays as hex, BigInts marked, keys in their order. */
const show = (v: unknown): string => JSON.stringify(v, (_k, x) => x instanceof Uint8Array ? Buffer.from(x).toString('hex') : typeof x === 'bigint' ? `n${x}` : x)

/** A fast path gives what the generic decoder gives for the same bytes, or steps aside (undefined); anything else is a crash. */
function agreeOrStepAside (name: string, fast: unknown, generic: () => unknown): void {
  if (fast === undefined) return
  let g: unknown
  try { g = generic() } catch { throw new Error(`${name} accepted bytes that the generic decoder refuses`) }
  if (show(fast) !== show(g)) throw new Error(`${name} and the generic decoder disagree`)
}
const TXS = BLOCKS.flatMap(b => b.txs.map(t => t.bytes))

/** A ChainStoreError subclass (CorruptDataError, BlockTooLargeError, PeerMisbehavedError, …). */
export const typed = (err: unknown): boolean => err instanceof ChainStoreError

/** libp2p's stream errors: the length-prefixed reader's answers to a bad or short stream. */
const STREAM_ERRORS = new Set(['InvalidDataLengthError', 'InvalidDataLengthLengthError', 'UnexpectedEOFError', 'StreamResetError', 'StreamClosedError', 'StreamStateError', 'AbortError', 'TimeoutError', 'StreamAbortedError'])
const typedOrStream = (err: unknown): boolean => typed(err) || STREAM_ERRORS.has((err as Error)?.name)

/**
 * The errors of the CBOR, CID and trie decoders that linksOf documents
 * ("throws when the bytes do not decode"): plain Errors from cborg / dag-pb /
 * multiformats / @ethereumjs. A TypeError or RangeError is a bug, not an answer.
 */
const decodeError = (err: unknown): boolean => {
  if (typed(err)) return true
  if (!(err instanceof Error)) return false
  if (err.constructor === Error) return true // links.ts's own "cannot read this node" errors
  const top = String(err.stack ?? '').split('\n').find(l => l.trim().startsWith('at ')) ?? ''
  return /node_modules\/(cborg|@ipld\/dag-(cbor|pb)|multiformats|@ethereumjs\/(trie|rlp|util))\//.test(top)
}

/** Reads a block whose header (a real one, relinked) names exactly this transaction page and receipt page. */
function blockOfPages (page: Uint8Array, receipt: Uint8Array): unknown {
  const h = dagCbor.decode<any>(HEADERS[1])
  h.txPages = [cidOf(page)]
  h.receiptPages = [cidOf(receipt)]
  const header = dagCbor.encode(h)
  const pages = new Map([[cidOf(page).toString(), page], [cidOf(receipt).toString(), receipt]])
  return blockFromBytes(cidOf(header), header, c => pages.get(c.toString()), LIMITS)
}

/** Serves `bytes` raw on one end of an in-memory stream pair and runs `read` on the other. */
async function overStream (bytes: Uint8Array, read: (stream: any, signal: AbortSignal) => Promise<unknown>, readsRequest = true): Promise<void> {
  const [a, b] = await streamPair({ delay: 0 })
  const server = (async () => {
    const lp = lpStream(b as any)
    if (readsRequest) try { await lp.read({ signal: AbortSignal.timeout(1_000) }) } catch {}
    try { (b as any).send(bytes); await (b as any).close() } catch {}
  })()
  try {
    await read(a, AbortSignal.timeout(1_000))
  } finally {
    await server
    try { (a as any).abort(new Error('done')) } catch {}
    try { (b as any).abort(new Error('done')) } catch {}
  }
}

/** Length-prefixed frames (unsigned varint length, then the frame). */
function lp (...frames: Uint8Array[]): Uint8Array {
  return Uint8Array.from(frames.flatMap(f => [...encodeFrame(f)]))
}
/** The bytes as a stream would deliver them: chunks of 1-8 bytes, the size set by the first byte. */
async function * chunked (bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  const size = ((bytes[0] ?? 0) % 8) + 1
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size)
}
const frame = (kind: number, ...parts: Uint8Array[]): Uint8Array => Uint8Array.from([kind, ...parts.flatMap(p => [...p])])

let carDir: string | undefined
function carFile (): string {
  carDir ??= mkdtempSync(join(tmpdir(), 'chainstore-fuzz-car-'))
  return join(carDir, 'in.car')
}
/** Removes the temp dir the CAR target writes its inputs to. */
export function cleanupTargets (): void {
  if (carDir != null) rmSync(carDir, { recursive: true, force: true })
}

function carOf (blocks: Array<{ cid: CID, bytes: Uint8Array }>): Uint8Array {
  const buf = new Uint8Array(64 * 1024)
  const w = CarBufferWriter.createWriter(buf.buffer, { roots: [blocks[0].cid] })
  for (const b of blocks) w.write(b)
  return w.close({ resize: true })
}

export const TARGETS: FuzzTarget[] = [
  {
    name: 'cborItemEnd',
    seeds: () => [...HEADERS, ...TX_PAGES.slice(0, 2)],
    run: d => cborItemEnd(d, 0),
    expected: typed
  },
  {
    name: 'splitCborArray',
    seeds: () => [...TX_PAGES, ...RECEIPT_PAGES],
    run: d => splitCborArray(d, 'page'),
    expected: typed
  },
  {
    name: 'headerLinks',
    seeds: () => HEADERS,
    run: d => headerLinks(d),
    expected: typed
  },
  {
    name: 'decodeHeader',
    seeds: () => HEADERS,
    run: d => decodeHeader(d),
    expected: typed
  },
  {
    // the header is the fuzz input (its CID is computed, so the hash check passes)
    name: 'blockFromBytes.header',
    seeds: () => HEADERS,
    run: d => {
      const pages = new Map(BLOCKS.flatMap(b => [...b.txPages, ...b.receiptPages]).map(p => [p.cid.toString(), p.bytes]))
      return blockFromBytes(cidOf(d), d, c => pages.get(c.toString()), LIMITS)
    },
    expected: typed
  },
  {
    // a header that links to the fuzz input as its transaction page (and a real receipt page)
    name: 'blockFromBytes.page',
    seeds: () => TX_PAGES,
    run: d => blockOfPages(d, RECEIPT_PAGES[0]),
    expected: typed
  },
  {
    name: 'blockFromBytes.receipts',
    seeds: () => RECEIPT_PAGES,
    run: d => blockOfPages(TX_PAGES[0], d),
    expected: typed
  },
  {
    name: 'decodeTxPage',
    seeds: () => TX_PAGES,
    run: d => decodeTxPage(d),
    expected: typed
  },
  {
    // the fixed-layout fast path must agree with the generic decoder or step aside (undefined)
    name: 'decodeTxPageFast',
    seeds: () => TX_PAGES,
    run: d => { agreeOrStepAside('decodeTxPageFast', decodeTxPageFast(d), () => dagCbor.decode(d)) },
    expected: typed
  },
  {
    // the page → API-shape path must give what the generic decoder and fromStoredTx give, or step aside
    name: 'decodeTxPageToApi',
    seeds: () => TX_PAGES,
    run: d => { agreeOrStepAside('decodeTxPageToApi', decodeTxPageToApi(d), () => (dagCbor.decode(d) as StoredTx[]).map(fromStoredTx)) },
    expected: typed
  },
  {
    name: 'decodeTx',
    seeds: () => TXS,
    run: d => decodeTx(d),
    expected: typed
  },
  {
    // the receipt-page fast path must agree with the generic decoder (keys in its order) or step aside
    name: 'decodeReceiptPageFast',
    seeds: () => RECEIPT_PAGES,
    run: d => { agreeOrStepAside('decodeReceiptPageFast', decodeReceiptPageFast(d), () => dagCbor.decode(d)) },
    expected: typed
  },
  {
    name: 'decodeReceipt',
    seeds: () => { const r = dagCbor.decode<any[]>(RECEIPT_PAGES[0]); return r.map(x => dagCbor.encode(x)) },
    run: d => decodeReceipt(d),
    expected: typed
  },
  {
    // first byte picks the codec: dag-cbor, dag-pb, raw, eth-state-trie
    name: 'linksOf',
    seeds: () => [
      Uint8Array.of(0, ...HEADERS[0]),
      Uint8Array.of(1, ...dagPb.encode(dagPb.prepare({ Data: Uint8Array.of(8, 1), Links: [{ Hash: cidOf(TXS[0], RAW), Name: 'a', Tsize: 3 }] }))),
      Uint8Array.of(3, 0xc2, 0x80, 0x80),
      Uint8Array.of(3, 0x80)
    ],
    run: d => {
      if (d.length === 0) return
      const codec = [dagCbor.code, dagPb.code, RAW, ETH_STATE_TRIE][d[0] & 3]
      const body = d.subarray(1)
      return linksOf(CID.createV1(codec, cidOf(body).multihash), body)
    },
    expected: decodeError
  },
  {
    name: 'decodePinValue',
    seeds: () => [
      dagCbor.encode({ reasons: ['user'], recursive: false }),
      dagCbor.encode({ reasons: ['chain', 'user'], recursive: true, state: 'pinned', height: 7, deep: ['chain'] }),
      dagCbor.encode({ reasons: ['blob'], recursive: true, state: 'failed', error: 'gone' })
    ],
    run: d => decodePinValue(cidOf(d), d),
    expected: typed,
  },
  {
    name: 'decodeTxRecord',
    seeds: () => BLOCKS[1].txs.slice(0, 3).map((t, i) => encodeTxRecord({ blockCid: BLOCKS[1].cid, pageCid: BLOCKS[1].txPages[0].cid, receiptPageCid: BLOCKS[1].receiptPages[0]?.cid ?? null, height: 1, page: 0, position: i, index: i, receiptOffset: 1, receiptLength: 10, txBytes: t.bytes })),
    run: d => decodeTxRecord(d),
    expected: typed
  },
  {
    name: 'decodeBlockRecord',
    seeds: () => [encodeBlockRecord(5, 100)],
    run: d => decodeBlockRecord(d),
    expected: typed
  },
  {
    name: 'decodeLogRecord',
    seeds: () => [dagCbor.encode([new Uint8Array(32), { address: new Uint8Array(20), topics: [new Uint8Array(32)], data: Uint8Array.of(1, 2) }])],
    run: d => decodeLogRecord(d),
    expected: typed
  },
  {
    name: 'readCar',
    seeds: () => [carOf([BLOCKS[0].header, ...BLOCKS[0].txPages]), carOf([{ cid: cidOf(TXS[0], RAW), bytes: TXS[0] }])],
    run: async d => {
      const file = carFile()
      writeFileSync(file, d)
      const car = await readCar(createReadStream(file), 'fuzz', 'fuzz.car')
      for await (const _ of car.blocks()) { /* read every block */ }
    },
    expected: typed
  },
  {
    // a peer's answer on BLOCKS_PROTOCOL, for one wanted block
    name: 'fetchBlocks',
    seeds: () => {
      const b = BLOCKS[1]
      return [
        lp(...[b.header, ...b.txPages, ...b.receiptPages].map(x => frame(0, x.cid.bytes, x.bytes)), frame(2)),
        lp(frame(1, b.cid.bytes), frame(2)),
        lp(frame(3, new TextEncoder().encode('nope')))
      ]
    },
    run: async d => await overStream(d, async (s, signal) => await fetchBlocks(s, 'fuzz-peer', [BLOCKS[1].cid], LIMITS, signal)),
    expected: typedOrStream
  },
  {
    name: 'fetchLog',
    seeds: () => [lp(frame(0, cidOf(HEADERS[0]).bytes, HEADERS[0]), frame(2))],
    run: async d => await overStream(d, async (s, signal) => await fetchLog(s, 'fuzz-peer', async () => {}, signal)),
    expected: typedOrStream
  },
  {
    name: 'requestAck',
    seeds: () => [lp(dagCbor.encode({ have: [BLOCKS[0].cid] })), lp(dagCbor.encode({ error: 'no' }))],
    run: async d => await overStream(d, async (s, signal) => await requestAck(s, 'fuzz-peer', [BLOCKS[0].cid], signal)),
    expected: typedOrStream
  },
  {
    name: 'requestHead',
    seeds: () => [lp(dagCbor.encode({ height: 5, cid: BLOCKS[0].cid.toString(), finalized: 3 }))],
    run: async d => await overStream(d, async (s, signal) => await requestHead(s, 'fuzz-peer', signal), false),
    expected: typedOrStream
  },
  {
    name: 'decodeFrames',
    seeds: () => [lp(HEADERS[0], HEADERS[1]), lp(new Uint8Array(0), HEADERS[2])],
    run: async d => { for await (const f of decodeFrames(chunked(d), 'fuzz-peer', 4096)) if (f.length > 4096) throw new Error('frame over the bound') },
    expected: typed
  }
]
