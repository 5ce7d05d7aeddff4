import * as dagCbor from '@ipld/dag-cbor'
import { describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { bytesMatchCid, cidAt, cidBytesOf, cidOf, cidsOfBytes, sha256Digest, sha256Into, sha256Matches } from '../src/codec/cid.ts'
import { decodeHeader, decodeTx, decodeTxPage, fromStoredTx } from '../src/codec/decode.ts'
import { SlabTx, cborArray, encodeBlock } from '../src/codec/encode.ts'
import { blockFromBytes } from '../src/codec/from-bytes.ts'
import { DecodedTransaction, Writer, decodeReceiptPageFast, decodeTxFast, decodeTxPageFast, decodeTxPageToApi, decodeTxToApi, encodeLogEntry, encodeReceipt, encodeTx } from '../src/codec/fast-cbor.ts'
import { encodeReceiptInput, encodeTxInput } from '../src/codec/encode-input.ts'
import { bigintAt, bytesToBigint, fromHex, hexAt, toHex } from '../src/codec/hex.ts'
import { normalizeReceipt, normalizeTx, type StoredTx } from '../src/codec/validate.ts'
import { parseConfig } from '../src/config/index.ts'
import { SyntheticChain } from '../src/synthetic/chain.ts'
import type { ReceiptInput, TransactionInput } from '../src/codec/types.ts'

const limits = parseConfig({}).limits
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

describe('codec', () => {
  it('fast transaction and receipt encoders write the bytes dag-cbor writes', () => {
    const chain = new SyntheticChain({ seed: 7, txsPerBlock: 50, logShare: 0.8 })
    const block = chain.next(limits)
    block.transactions[0] = { ...block.transactions[0], to: null, nonce: 2 ** 40, gasLimit: 300, value: 0n, data: new Uint8Array(70_000) }
    block.receipts![1] = { status: 0, gasUsed: 0, logs: [] }
    for (let i = 0; i < block.transactions.length; i++) {
      const tx = normalizeTx(block.transactions[i], 'tx')
      expect(hex(encodeTx(tx))).toBe(hex(dagCbor.encode(tx)))
      const r = normalizeReceipt(block.receipts![i], 'r')
      expect(hex(encodeReceipt(r))).toBe(hex(dagCbor.encode(r)))
      for (const log of r.logs) expect(hex(encodeLogEntry(tx.from, log))).toBe(hex(dagCbor.encode([tx.from, log])))
    }
  })

  it('encoding a transaction input straight into a shared writer gives the validator\'s bytes and parties, for every input form', () => {
    const chain = new SyntheticChain({ seed: 11, txsPerBlock: 40 })
    const txs = chain.next(limits).transactions
    const variants: TransactionInput[] = txs.flatMap((t, i) => {
      const data = t.data as Uint8Array
      const sig = t.signature as Uint8Array
      return [
        t,
        // hex strings (upper case too), numbers, zero, no recipient, no data, extra fields ignored
        { ...t, data: '0x' + hex(data), signature: '0x' + hex(sig).toUpperCase(), from: t.from.toUpperCase().replace('0X', '0x') },
        { ...t, to: null, value: i, gasPrice: Number.MAX_SAFE_INTEGER - i, data: undefined, signature: '0x' },
        { ...t, value: 0n, gasPrice: (1n << 256n) - 1n, data: new Uint8Array(300 + i), nonce: 2 ** 40, extra: 'x' } as TransactionInput
      ]
    })
    // 16 bytes to start with: the writer grows many times; every earlier view must still hold its own value
    const shared = new Writer(16)
    const written = variants.map(t => ({ t, out: encodeTxInput(t, shared) }))
    for (const { t, out } of written) {
      const stored = normalizeTx(t, 'tx')
      expect(out).toBeDefined()
      expect(hex(out!.bytes)).toBe(hex(dagCbor.encode(stored)))
      expect(hex(out!.from)).toBe(hex(stored.from))
      expect(out!.to == null ? null : hex(out!.to)).toBe(stored.to == null ? null : hex(stored.to))
    }
  })

  it('the input encoder declines what the validator must judge, and leaves the writer as it was', () => {
    const t = new SyntheticChain({ seed: 12, txsPerBlock: 1 }).next(limits).transactions[0]
    const declined: unknown[] = [
      { ...t, from: t.from.slice(0, 41) + 'g' }, // not hex, in the last digit
      { ...t, to: '0x' + 'zz'.repeat(20) },
      { ...t, data: '0x0g' },
      { ...t, data: '0x123' }, // odd length
      { ...t, signature: 42 },
      { ...t, value: '1000' }, // decimal string: the validator's
      { ...t, value: -1n },
      { ...t, gasPrice: 1n << 256n },
      { ...t, nonce: 1.5 },
      { ...t, gasLimit: -1 },
      null,
      [t]
    ]
    const w = new Writer(16)
    const first = encodeTxInput(t, w)!
    const pos = w.pos
    const before = hex(w.buf.subarray(0, pos))
    for (const input of declined) {
      expect(encodeTxInput(input as TransactionInput, w)).toBeUndefined()
      expect(w.pos).toBe(pos)
    }
    expect(hex(w.buf.subarray(0, pos))).toBe(before)
    expect(hex(first.bytes)).toBe(hex(dagCbor.encode(normalizeTx(t, 'tx'))))
    // the block encoder takes the validator's path for those: a decimal quantity encodes, a bad digit is refused by name
    const block = new SyntheticChain({ seed: 12, txsPerBlock: 2 }).next(limits)
    expect(encodeBlock({ ...block, transactions: [{ ...block.transactions[0], value: '1000' }, block.transactions[1]], receipts: undefined }, limits).txs).toHaveLength(2)
    expect(() => encodeBlock({ ...block, transactions: [block.transactions[0], { ...block.transactions[1], to: '0x' + 'zz'.repeat(20) }], receipts: undefined }, limits)).toThrow(/block\.transactions\[1\]\.to/)
  })

  it('encoding a receipt input straight into a shared writer gives the validator\'s bytes and logs, for every input form', () => {
    const block = new SyntheticChain({ seed: 13, txsPerBlock: 40, logShare: 1 }).next(limits)
    const variants: ReceiptInput[] = block.receipts!.flatMap((r, i) => {
      const log = r.logs![0]
      return [
        r,
        { ...r, logs: [{ ...log, data: '0x' + hex(log.data as Uint8Array), topics: log.topics.map((t, j) => j === 0 ? Buffer.from(t.slice(2), 'hex') as unknown as string : t.toUpperCase().replace('0X', '0x')) }] },
        { status: 0, gasUsed: i },
        { ...r, logs: [{ address: log.address, topics: [] }, { ...log, data: undefined }, log] }
      ]
    })
    const shared = new Writer(16)
    const written = variants.map(r => ({ r, out: encodeReceiptInput(r, shared) }))
    const logHex = (l: { address: Uint8Array, topics: Uint8Array[], data: Uint8Array }): string[] => [hex(l.address), ...l.topics.map(hex), hex(l.data)]
    for (const { r, out } of written) {
      const stored = normalizeReceipt(r, 'r')
      expect(out).toBeDefined()
      expect(hex(out!.bytes)).toBe(hex(dagCbor.encode(stored)))
      expect(out!.logs.map(logHex)).toEqual(stored.logs.map(logHex))
    }
    const r = block.receipts![0]
    const log = r.logs![0]
    const declined: unknown[] = [
      { ...r, status: 2 },
      { ...r, gasUsed: -1 },
      { ...r, logs: 'none' },
      { ...r, logs: [{ ...log, address: '0x' + 'zz'.repeat(20) }] },
      { ...r, logs: [{ ...log, topics: ['0x' + '0g'.repeat(32)] }] },
      { ...r, logs: [{ ...log, topics: [new Uint8Array(31)] }] },
      { ...r, logs: [{ ...log, topics: Array(5).fill(log.topics[0]) }] },
      { ...r, logs: [{ ...log, data: '0xg0' }] },
      { ...r, logs: [null] }
    ]
    const w = new Writer(16)
    encodeReceiptInput(r, w)
    const pos = w.pos
    for (const input of declined) {
      expect(encodeReceiptInput(input as ReceiptInput, w)).toBeUndefined()
      expect(w.pos).toBe(pos)
    }
  })

  it('log records written into one shared writer stay the bytes dag-cbor writes after the writer grows', () => {
    const chain = new SyntheticChain({ seed: 9, txsPerBlock: 60, logShare: 1 })
    const block = chain.next(limits)
    // 16 bytes to start with: the writer grows many times; every earlier view must still hold its own record
    const shared = new Writer(16)
    const written: Array<[Uint8Array, unknown]> = []
    for (let i = 0; i < block.transactions.length; i++) {
      const from = normalizeTx(block.transactions[i], 'tx').from
      for (const log of normalizeReceipt(block.receipts![i], 'r').logs) written.push([encodeLogEntry(from, log, shared), [from, log]])
    }
    expect(written.length).toBeGreaterThan(30)
    for (const [bytes, value] of written) expect(hex(bytes)).toBe(hex(dagCbor.encode(value)))
  })

  it('a page assembled from transaction bytes equals dag-cbor of the array, for every length class', () => {
    for (const n of [0, 1, 23, 24, 255, 256, 70_000]) {
      const items = Array.from({ length: n }, (_, i) => dagCbor.encode({ i }))
      expect(hex(cborArray(items))).toBe(hex(dagCbor.encode(items.map(b => dagCbor.decode(b)))))
    }
  })

  it('a transaction id is the CID of the transaction as its own block, verifiable from its page', async () => {
    const chain = new SyntheticChain({ seed: 3, txsPerBlock: 30 })
    const enc = encodeBlock(chain.next(limits), limits)
    const page = enc.txPages[0]
    expect(cidOf(page.bytes).equals(page.cid)).toBe(true)
    const decoded = dagCbor.decode<unknown[]>(page.bytes)
    // pages are assembled from one writer's buffer in a single copy: still canonical dag-cbor
    expect(hex(page.bytes)).toBe(hex(dagCbor.encode(decoded)))
    const receipts = enc.receiptPages[0].bytes
    expect(hex(receipts)).toBe(hex(dagCbor.encode(dagCbor.decode(receipts))))
    decoded.forEach((tx, i) => { expect(cidOf(dagCbor.encode(tx)).equals(enc.txs[i].id)).toBe(true) })
    expect(decodeTxPage(page.bytes).length).toBe(30)
    expect(chain.addresses).toContain(decodeTx(enc.txs[0].bytes).from)
  })

  it('decoded transactions are records built by a constructor (no object-literal allocation site), with the plain shape', () => {
    const chain = new SyntheticChain({ seed: 5, txsPerBlock: 20 })
    const enc = encodeBlock(chain.next(limits), limits)
    const fast = decodeTxPage(enc.txPages[0].bytes)
    // the generic path, which the strict decoder feeds when the fast one declines a page
    const generic = fromStoredTx(dagCbor.decode<StoredTx[]>(enc.txPages[0].bytes)[0])
    for (const tx of [fast[0], decodeTx(enc.txs[0].bytes), generic]) {
      expect(tx).toBeInstanceOf(DecodedTransaction)
      // own enumerable fields only, in the documented order: JSON, spread and structured clone see a plain transaction
      expect(Object.keys(tx)).toEqual(['from', 'to', 'nonce', 'value', 'gasLimit', 'gasPrice', 'data', 'signature'])
      expect({ ...tx }).toEqual(tx)
    }
    expect({ ...generic }).toEqual({ ...fast[0] })
  })

  it('the fast page decoder reads what dag-cbor reads, and declines anything else', () => {
    const chain = new SyntheticChain({ seed: 11, txsPerBlock: 300 })
    const block = chain.next(limits)
    block.transactions[5] = { ...block.transactions[5], to: null, nonce: 2 ** 33, data: new Uint8Array(300) }
    for (const page of encodeBlock(block, limits).txPages) {
      const fast = decodeTxPageFast(page.bytes)
      expect(fast).toBeDefined()
      expect(fast!.map(t => hex(dagCbor.encode(t)))).toEqual(dagCbor.decode<unknown[]>(page.bytes).map(t => hex(dagCbor.encode(t))))
    }
    // other layouts fall back to the strict decoder
    expect(decodeTxPageFast(dagCbor.encode([{ a: 1 }]))).toBeUndefined()
    expect(decodeTxPageFast(dagCbor.encode({ txs: [] }))).toBeUndefined()
    const one = encodeBlock(chain.next(limits), limits).txPages[0].bytes
    expect(decodeTxPageFast(one.subarray(0, one.length - 1))).toBeUndefined()
    expect(decodeTxPageFast(Uint8Array.of(...one, 0))).toBeUndefined()
    expect(() => decodeTxPage(dagCbor.encode([{ a: 1 }]))).toThrow(expect.objectContaining({ name: 'CorruptDataError' }))
  })

  it('the fast receipt-page decoder reads what dag-cbor reads, keys in its order, and declines anything else', () => {
    const chain = new SyntheticChain({ seed: 13, txsPerBlock: 200, logShare: 0.8 })
    const block = chain.next(limits)
    const hx = (n: number, fill: number): string => '0x' + Buffer.alloc(n, fill).toString('hex')
    const log = (topics: number, data: number): any => ({ address: hx(20, 7), topics: Array.from({ length: topics }, (_, i) => hx(32, i)), data: hx(data, 9) })
    block.receipts![0] = { status: 0, gasUsed: 0, logs: [] }
    block.receipts![1] = { status: 1, gasUsed: 2 ** 40, logs: [log(0, 0), log(4, 70_000)] }
    block.receipts![2] = { status: 1, gasUsed: 23, logs: Array.from({ length: 24 }, (_, i) => log(i % 5, i)) }
    const show = (v: unknown): string => JSON.stringify(v, (_k, x) => x instanceof Uint8Array ? hex(x) : x)
    const pages = encodeBlock(block, limits).receiptPages
    expect(pages.length).toBeGreaterThan(0)
    for (const page of pages) {
      const fast = decodeReceiptPageFast(page.bytes)
      expect(fast).toBeDefined()
      expect(show(fast)).toBe(show(dagCbor.decode(page.bytes)))
    }
    // other layouts, non-canonical heads, cut or padded pages and a status dag-cbor reads but a receipt cannot have step aside
    const first = pages[0].bytes
    expect(decodeReceiptPageFast(first.subarray(0, first.length - 1))).toBeUndefined()
    expect(decodeReceiptPageFast(Uint8Array.of(...first, 0))).toBeUndefined()
    expect(decodeReceiptPageFast(dagCbor.encode([{ logs: [], status: 2, gasUsed: 1 }]))).toBeUndefined()
    expect(decodeReceiptPageFast(dagCbor.encode([{ logs: [], gasUsed: 1 }]))).toBeUndefined()
    expect(decodeReceiptPageFast(dagCbor.encode([{ a: 1 }]))).toBeUndefined()
    const canonical = dagCbor.encode([{ logs: [], status: 1, gasUsed: 5 }])
    expect(decodeReceiptPageFast(canonical)).toEqual([{ logs: [], status: 1, gasUsed: 5 }])
    // gasUsed 5 in a one-byte head (0x18 0x05) instead of the shortest form
    const long = Uint8Array.of(...canonical.subarray(0, canonical.length - 1), 0x18, 5)
    expect(() => dagCbor.decode(long)).toThrow()
    expect(decodeReceiptPageFast(long)).toBeUndefined()
  })

  it('the fast single-transaction decoder reads what dag-cbor reads, and declines anything else', () => {
    const chain = new SyntheticChain({ seed: 12, txsPerBlock: 50 })
    const block = chain.next(limits)
    block.transactions[3] = { ...block.transactions[3], to: null, nonce: 2 ** 33, data: new Uint8Array(300) }
    for (const tx of encodeBlock(block, limits).txs) {
      const fast = decodeTxFast(tx.bytes)
      expect(fast).toBeDefined()
      expect(hex(dagCbor.encode(fast))).toBe(hex(dagCbor.encode(dagCbor.decode(tx.bytes))))
      expect(decodeTx(tx.bytes)).toEqual(fromStoredTx(dagCbor.decode<StoredTx>(tx.bytes)))
      expect(decodeTxFast(tx.bytes.subarray(0, tx.bytes.length - 1))).toBeUndefined()
      expect(decodeTxFast(Uint8Array.of(...tx.bytes, 0))).toBeUndefined()
    }
    expect(decodeTxFast(dagCbor.encode({ a: 1 }))).toBeUndefined()
  })

  it('pages and transactions decode straight to the API shape exactly as the generic decoder does, and decline anything else', () => {
    const chain = new SyntheticChain({ seed: 13, txsPerBlock: 200 })
    const block = chain.next(limits)
    const edge = [0n, 1n, 255n, 256n, 2n ** 48n - 1n, 2n ** 48n, 2n ** 53n + 1n, 2n ** 96n + 7n, 2n ** 256n - 1n]
    edge.forEach((v, i) => { block.transactions[i] = { ...block.transactions[i], value: v, gasPrice: edge[edge.length - 1 - i], to: i % 2 === 0 ? null : block.transactions[i].to } })
    block.transactions[20] = { ...block.transactions[20], nonce: 2 ** 40, gasLimit: 2 ** 33, data: new Uint8Array(0) }
    const enc = encodeBlock(block, limits)
    let seen = 0
    for (const page of enc.txPages) {
      const direct = decodeTxPageToApi(page.bytes)
      expect(direct).toBeDefined()
      expect(direct).toEqual(dagCbor.decode<StoredTx[]>(page.bytes).map(fromStoredTx))
      seen += direct!.length
    }
    expect(seen).toBe(200)
    expect(decodeTxPage(enc.txPages[0].bytes).slice(0, edge.length).map(t => t.value)).toEqual(edge)
    for (const tx of enc.txs) expect(decodeTxToApi(tx.bytes)).toEqual(fromStoredTx(dagCbor.decode<StoredTx>(tx.bytes)))
    // a stored transaction whose address is not 20 bytes is not this layout: the generic path refuses it by name
    const stored = dagCbor.decode<StoredTx>(enc.txs[1].bytes)
    const short = encodeTx({ ...stored, from: stored.from.subarray(0, 19) })
    expect(decodeTxToApi(short)).toBeUndefined()
    expect(() => decodeTx(short)).toThrow(expect.objectContaining({ name: 'CorruptDataError', message: expect.stringMatching(/shape of a transaction/) }))
    expect(decodeTxPageToApi(cborArray([enc.txs[0].bytes, short], 0, 2))).toBeUndefined()
    const page = enc.txPages[0].bytes
    expect(decodeTxPageToApi(page.subarray(0, page.length - 1))).toBeUndefined()
    expect(decodeTxPageToApi(Uint8Array.of(...page, 0))).toBeUndefined()
    expect(decodeTxPageToApi(dagCbor.encode([{ a: 1 }]))).toBeUndefined()
  })

  it('hex and integer readers agree with Buffer and BigInt for every length, leading zeros included', () => {
    const bytes = Uint8Array.from({ length: 200 }, (_, i) => (i * 151 + 7) & 0xff)
    bytes[10] = 0
    bytes[11] = 0
    for (let start = 0; start < 12; start += 5) {
      for (let n = 0; n <= 120; n++) {
        const view = bytes.subarray(start, start + n)
        expect(hexAt(bytes, start, n)).toBe('0x' + Buffer.from(view).toString('hex'))
        expect(toHex(view)).toBe('0x' + Buffer.from(view).toString('hex'))
        const want = n === 0 ? 0n : BigInt('0x' + Buffer.from(view).toString('hex'))
        expect(bigintAt(bytes, start, n)).toBe(want)
        expect(bytesToBigint(view)).toBe(want)
      }
    }
  })

  it('splits transactions into pages bounded by pageBytes and links them from the header', () => {
    const small = { ...limits, pageBytes: 2048 }
    const chain = new SyntheticChain({ seed: 5, txsPerBlock: 40 })
    const enc = encodeBlock(chain.next(small), small)
    expect(enc.txPages.length).toBeGreaterThan(3)
    for (const p of enc.txPages) expect(p.bytes.length).toBeLessThanOrEqual(2048 + 5)
    const header = decodeHeader(enc.header.bytes)
    expect(header.txPages.map(String)).toEqual(enc.txPages.map(p => p.cid.toString()))
    expect(header.receiptPages.length).toBe(enc.txPages.length)
    expect(header.txCount).toBe(40)
  })

  it('hex helpers reject what is not strict 0x-hex', () => {
    expect(fromHex('0x0aFF')).toEqual(Uint8Array.of(10, 255))
    expect(fromHex('0xzz')).toBeUndefined()
    expect(fromHex('0x' + 'a'.repeat(65))).toBeUndefined()
    expect(fromHex('0x' + 'ag'.repeat(40))).toBeUndefined()
    expect(fromHex('ab')).toBeUndefined()
    expect(toHex(Uint8Array.of(0, 1, 254))).toBe('0x0001fe')
  })
})

describe('sha2-256 without a Buffer per digest', () => {
  // lengths around sha2-256's 64-byte block and its 55/56-byte padding edge
  const inputs = [0, 1, 31, 55, 56, 63, 64, 65, 250, 10_000].map(n => randomBytes(n))

  it('cidOf, cidsOfBytes and sha256Digest agree with multiformats sha256', async () => {
    for (const bytes of inputs) {
      const want = CID.createV1(dagCbor.code, await sha256.digest(bytes))
      expect(cidOf(bytes).equals(want)).toBe(true)
      expect(cidOf(bytes, 0x55).equals(CID.createV1(0x55, want.multihash))).toBe(true)
      // a codec of two varint bytes (dag-json) takes multiformats' own CID constructor
      expect(cidOf(bytes, 0x0129).equals(CID.createV1(0x0129, want.multihash))).toBe(true)
      expect(sha256Digest(bytes).bytes).toEqual(want.multihash.bytes)
    }
    const many = cidsOfBytes(inputs)
    for (let i = 0; i < inputs.length; i++) expect(many[i].equals(CID.createV1(dagCbor.code, await sha256.digest(inputs[i])))).toBe(true)
    // the same CIDs' bytes in one buffer, built one at a time when asked; a SlabTx reads its id and digest from it
    const slab = cidBytesOf(inputs)
    for (let i = inputs.length - 1; i >= 0; i--) {
      expect(cidAt(slab, i).equals(many[i])).toBe(true)
      const tx = new SlabTx(slab, i, inputs[i], new Uint8Array(20), null, 0, i, 0, 0, [])
      expect(tx.id.equals(many[i])).toBe(true)
      expect(tx.id).toBe(tx.id)
      const out = new Uint8Array(40)
      tx.digestInto(out, 3)
      expect(out.subarray(3, 35)).toEqual(many[i].multihash.digest)
    }
  })

  it('blockFromBytes rebuilds the block with the same transaction ids, and refuses a header whose txCount is one off either way', () => {
    const limits = parseConfig({}).limits
    const block = encodeBlock(new SyntheticChain({ seed: 3, txsPerBlock: 30 }).next(limits), limits)
    const pages = new Map([...block.txPages, ...block.receiptPages].map(p => [p.cid.toString(), p.bytes]))
    const page = (cid: CID): Uint8Array | undefined => pages.get(cid.toString())
    const rebuilt = blockFromBytes(block.cid, block.header.bytes, page, limits)
    expect(rebuilt.txs.map(t => t.id.toString())).toEqual(block.txs.map(t => t.id.toString()))
    for (const txCount of [29, 31]) {
      const header = dagCbor.encode({ ...dagCbor.decode<Record<string, unknown>>(block.header.bytes), txCount })
      expect(() => blockFromBytes(cidOf(header), header, page, limits)).toThrow(expect.objectContaining({ name: 'CorruptDataError', message: expect.stringMatching(/header says \d+ transactions, pages hold/) }))
    }
  })

  it('sha256Matches and bytesMatchCid refuse a digest one bit off, a short digest and other bytes', () => {
    for (const bytes of inputs) {
      const cid = cidOf(bytes)
      const digest = cid.multihash.digest
      expect(sha256Matches(bytes, digest)).toBe(true)
      expect(bytesMatchCid(cid, bytes)).toBe(true)
      for (const at of [0, 17, 31]) {
        const off = Uint8Array.from(digest)
        off[at] ^= 0x80
        expect(sha256Matches(bytes, off)).toBe(false)
      }
      expect(sha256Matches(bytes, digest.subarray(0, 31))).toBe(false)
      const other = Uint8Array.from([...bytes, 0])
      expect(bytesMatchCid(cid, other)).toBe(false)
    }
  })

  it('sha256Into writes the 32 digest bytes at the offset and nothing else', () => {
    const out = new Uint8Array(40).fill(0xee)
    sha256Into(inputs[8], out, 5)
    expect(out.subarray(5, 37)).toEqual(cidOf(inputs[8]).multihash.digest)
    expect([...out.subarray(0, 5), ...out.subarray(37)]).toEqual(new Array(8).fill(0xee))
  })
})
