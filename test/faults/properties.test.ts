/**
 * Property tests (fast-check) against models: codecs round-trip, pages keep
 * every transaction in order within their byte bound, index records
 * round-trip, the store's indexes answer like a model built from the inputs,
 * the kv store like a Map, and the state trie with commits and rollbacks like
 * a Map per height.
 *
 *   PROPERTY_RUNS  runs per property (default 100; the store-backed ones use half)
 *   PROPERTY_SEED  fast-check seed (default random, printed)
 */
import * as dagCbor from '@ipld/dag-cbor'
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { cidOf } from '../../src/codec/cid.ts'
import { decodeTx, decodeTxPage } from '../../src/codec/decode.ts'
import { cborArray, encodeBlock } from '../../src/codec/encode.ts'
import { encodeReceiptInput, encodeTxInput } from '../../src/codec/encode-input.ts'
import { Writer, decodeTxPageFast } from '../../src/codec/fast-cbor.ts'
import type { ReceiptInput, TransactionInput } from '../../src/codec/types.ts'
import { normalizeReceipt, normalizeTx } from '../../src/codec/validate.ts'
import { blockFromBytes, headerLinks, splitCborArray } from '../../src/codec/from-bytes.ts'
import { linksOf } from '../../src/codec/links.ts'
import { parseConfig } from '../../src/config/index.ts'
import { decodeBlockRecord, decodeTxRecord, encodeBlockRecord, encodeTxRecord } from '../../src/indexes/records.ts'
import { emptyAccount } from '../../src/state/account.ts'
import type { AccountState } from '../../src/state/types.ts'
import { SyntheticChain } from '../../src/synthetic/chain.ts'
import { openTestStore } from '../helpers/store.ts'

const RUNS = Number(process.env.PROPERTY_RUNS ?? 100)
const STORE_RUNS = Math.max(3, Math.round(RUNS / 2))
const SEED = Number(process.env.PROPERTY_SEED ?? Math.floor(Math.random() * 0x7fffffff))
const BASE = parseConfig({}).limits
const counts: Record<string, number> = {}
const params = (name: string, numRuns = RUNS): fc.Parameters<any> => ({ numRuns, seed: SEED, reporter: (out) => { counts[name] = out.numRuns; if (out.failed) throw new Error(fc.defaultReportMessage(out)) } })

afterAll(() => {
  const total = Object.values(counts).reduce((a, b) => a + b, 0)
  console.log(`[faults:properties] properties=${Object.keys(counts).length} runs=${total} failures=0 seed=${SEED} (${Object.entries(counts).map(([k, v]) => `${k}:${v}`).join(' ')})`)
})

const chainArb = fc.record({
  seed: fc.integer({ min: 1, max: 1_000_000 }),
  txs: fc.integer({ min: 0, max: 60 }),
  dataBytes: fc.integer({ min: 0, max: 600 }),
  pageBytes: fc.integer({ min: 1024, max: 16_384 }),
  blocks: fc.integer({ min: 1, max: 3 })
})

const stable = (v: unknown): string => JSON.stringify(v, (_k, x) => typeof x === 'bigint' ? `${x}n` : x instanceof Uint8Array ? Buffer.from(x).toString('hex') : x?.asCID != null ? String(x) : x)

describe('codec properties', () => {
  it('encode → blockFromBytes round-trips every block; pages keep every transaction in order within their bound', () => {
    fc.assert(fc.property(chainArb, ({ seed, txs, dataBytes, pageBytes, blocks }) => {
      const limits = { ...BASE, pageBytes }
      const chain = new SyntheticChain({ seed, txsPerBlock: txs, addresses: 10, dataBytes })
      for (const input of chain.take(blocks, limits)) {
        const enc = encodeBlock(input, limits)
        // deterministic: the same input encodes to the same CID
        expect(encodeBlock(input, limits).cid.toString()).toBe(enc.cid.toString())
        const pages = new Map([...enc.txPages, ...enc.receiptPages].map(p => [p.cid.toString(), p.bytes]))
        const back = blockFromBytes(enc.cid, enc.header.bytes, c => pages.get(c.toString()), limits)
        expect(back.txs.map(t => t.id.toString())).toEqual(enc.txs.map(t => t.id.toString()))
        expect(back.height).toBe(input.height)
        expect(headerLinks(enc.header.bytes).pages.map(String)).toEqual([...enc.txPages, ...enc.receiptPages].map(p => p.cid.toString()))
        expect(linksOf(enc.cid, enc.header.bytes)?.map(String)).toEqual(expect.arrayContaining([...enc.txPages, ...enc.receiptPages].map(p => p.cid.toString())))
        // pages: concatenated they are the block's transactions, in order; each is within pageBytes unless it holds one transaction
        const fromPages = enc.txPages.flatMap(p => decodeTxPage(p.bytes))
        expect(fromPages.length).toBe(input.transactions.length)
        const txIds: string[] = []
        for (const p of enc.txPages) {
          const { items } = splitCborArray(p.bytes, 'page')
          if (items.length > 1) expect(p.bytes.length).toBeLessThanOrEqual(pageBytes)
          for (const item of items) txIds.push(cidOf(item).toString())
          // the fixed-layout fast path agrees with the generic decoder
          expect(stable(decodeTxPageFast(p.bytes))).toBe(stable(dagCbor.decode(p.bytes)))
        }
        expect(txIds).toEqual(enc.txs.map(t => t.id.toString()))
        enc.txs.forEach((t, i) => expect(stable(decodeTx(t.bytes))).toBe(stable(fromPages[i])))
      }
    }), params('codec-roundtrip'))
  })

  it('the input encoders agree with the validator: same bytes and fields when they encode, the writer untouched when they decline', () => {
    const hexOf = (b: Uint8Array, upper: boolean): string => '0x' + (upper ? Buffer.from(b).toString('hex').toUpperCase() : Buffer.from(b).toString('hex'))
    // valid and invalid forms of each kind of field, as callers send them
    // valid forms weighted so that about half the inputs are valid throughout
    const sized = (n?: number): fc.Arbitrary<Uint8Array> => n == null ? fc.uint8Array({ maxLength: 200 }) : fc.uint8Array({ minLength: n, maxLength: n })
    const bytesField = (n?: number): fc.Arbitrary<unknown> => fc.oneof(
      { arbitrary: sized(n), weight: 20 },
      { arbitrary: fc.tuple(sized(n), fc.boolean()).map(([b, u]) => hexOf(b, u)), weight: 20 },
      { arbitrary: fc.constantFrom('0x', '0x0', '0xzz', '12', '', 7, null, undefined, n == null ? new Uint8Array(0) : new Uint8Array(n - 1)), weight: 1 },
      { arbitrary: fc.uint8Array({ minLength: 1, maxLength: 40 }).map(b => hexOf(b, false).slice(0, -1) + 'g'), weight: 1 }
    )
    const address = bytesField(20).filter(v => v !== null && v !== undefined && !(v instanceof Uint8Array))
    const quantity = fc.oneof(
      { arbitrary: fc.bigInt({ min: 0n, max: (1n << 256n) - 1n }), weight: 15 },
      { arbitrary: fc.nat(), weight: 15 },
      { arbitrary: fc.oneof(fc.bigInt({ min: -5n, max: -1n }), fc.constant(1n << 256n), fc.constantFrom(-1, 1.5, Number.MAX_SAFE_INTEGER, 2 ** 60)), weight: 1 },
      { arbitrary: fc.oneof(fc.bigInt({ min: 0n, max: 1n << 70n }).map(n => '0x' + n.toString(16)), fc.bigInt({ min: 0n, max: 1n << 70n }).map(String), fc.constantFrom('0x', 'abc', '-1')), weight: 1 }
    )
    const uint = fc.oneof({ arbitrary: fc.nat(), weight: 30 }, { arbitrary: fc.constantFrom(-1, 0.5, 2 ** 53, '5'), weight: 1 })
    const tx = fc.record({ from: address, to: fc.oneof(address, fc.constant(null)), nonce: uint, value: quantity, gasLimit: uint, gasPrice: quantity, data: bytesField(), signature: bytesField() })
    const log = fc.record({ address, topics: fc.array(bytesField(32), { maxLength: 5 }), data: bytesField() })
    const receipt = fc.record({ status: fc.constantFrom(0, 1, 2), gasUsed: uint, logs: fc.oneof(fc.array(log, { maxLength: 3 }), fc.constantFrom(undefined, 'x')) })
    const hex = (b: Uint8Array | null): string | null => b == null ? null : Buffer.from(b).toString('hex')
    let encoded = 0
    let declined = 0
    fc.assert(fc.property(tx, receipt, fc.integer({ min: 1, max: 64 }), (t, r, size) => {
      const w = new Writer(size)
      const out = encodeTxInput(t as TransactionInput, w)
      let stored: ReturnType<typeof normalizeTx> | undefined
      try { stored = normalizeTx(t as TransactionInput, 'tx') } catch {}
      if (out != null) {
        encoded++
        expect(stored).toBeDefined()
        expect(hex(out.bytes)).toBe(hex(dagCbor.encode(stored)))
        expect([hex(out.from), hex(out.to)]).toEqual([hex(stored!.from), hex(stored!.to)])
      } else {
        declined++
        expect(w.pos).toBe(0)
      }
      const rw = new Writer(size)
      const rout = encodeReceiptInput(r as ReceiptInput, rw)
      let rstored: ReturnType<typeof normalizeReceipt> | undefined
      try { rstored = normalizeReceipt(r as ReceiptInput, 'r') } catch {}
      if (rout != null) {
        expect(rstored).toBeDefined()
        expect(hex(rout.bytes)).toBe(hex(dagCbor.encode(rstored)))
        expect(rout.logs.map(l => [hex(l.address), ...l.topics.map(hex), hex(l.data)])).toEqual(rstored!.logs.map(l => [hex(l.address), ...l.topics.map(hex), hex(l.data)]))
      } else {
        expect(rw.pos).toBe(0)
      }
    }), params('input-encoders', RUNS * 10))
    // both sides of the property were reached, each often
    expect(encoded).toBeGreaterThan(RUNS)
    expect(declined).toBeGreaterThan(RUNS)
  })

  it('splitCborArray inverts cborArray for any dag-cbor items', () => {
    const item = fc.oneof(fc.integer(), fc.string({ maxLength: 30 }), fc.uint8Array({ maxLength: 300 }), fc.constant(null), fc.array(fc.integer(), { maxLength: 30 }), fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 5 }))
    fc.assert(fc.property(fc.array(item, { maxLength: 70 }), values => {
      const items = values.map(v => dagCbor.encode(v))
      const bytes = cborArray(items)
      expect(Buffer.from(dagCbor.encode(dagCbor.decode(bytes))).equals(Buffer.from(dagCbor.encode(values)))).toBe(true)
      const { items: split } = splitCborArray(bytes, 'array')
      expect(split.map(s => Buffer.from(s).toString('hex'))).toEqual(items.map(s => Buffer.from(s).toString('hex')))
    }), params('cbor-array'))
  })

  it('index records round-trip', () => {
    const digest = fc.uint8Array({ minLength: 32, maxLength: 32 })
    fc.assert(fc.property(digest, digest, fc.option(digest), fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }), fc.uint8Array({ minLength: 1, maxLength: 400 }),
      (b, p, rp, height, page, position, index, receiptOffset, receiptLength, txBytes) => {
        const blockCid = cidOf(b); const pageCid = cidOf(p); const receiptPageCid = rp == null || receiptLength === 0 ? null : cidOf(rp)
        const rec = { blockCid, pageCid, receiptPageCid, height, page, position, index, receiptOffset, receiptLength: receiptPageCid == null ? 0 : receiptLength, txBytes }
        const decoded = decodeTxRecord(encodeTxRecord(rec))
        // the CIDs are getters (made on first use): read every field into a plain object
        const back = { blockCid: decoded.blockCid, pageCid: decoded.pageCid, receiptPageCid: decoded.receiptPageCid, height: decoded.height, page: decoded.page, position: decoded.position, index: decoded.index, receiptOffset: decoded.receiptOffset, receiptLength: decoded.receiptLength, txBytes: decoded.txBytes }
        expect(stable(back)).toBe(stable({ ...rec, blockCid: cidOf(b).toString() === back.blockCid.toString() ? back.blockCid : blockCid }))
        expect(back.blockCid.multihash.digest).toEqual(blockCid.multihash.digest)
        expect(back.pageCid.multihash.digest).toEqual(pageCid.multihash.digest)
        expect(decodeBlockRecord(encodeBlockRecord(height, index))).toEqual({ height, txCount: index })
      }), params('index-records'))
  })
})

describe('store properties against models', () => {
  it('indexes: blocks, transactions and address history answer like a model of the inputs', async () => {
    await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 1_000_000 }), fc.integer({ min: 2, max: 8 }), fc.integer({ min: 1, max: 40 }), async (seed, n, limit) => {
      const t = await openTestStore({}, { seed, txsPerBlock: [0, 25], addresses: 12 })
      try {
        const inputs = t.chain.take(n, t.store.config.limits)
        const stored = await t.store.storeBlocks(inputs)
        const model = new Map<string, Set<string>>() // address → tx ids
        const add = (a: string | null | undefined, id: string): void => { if (a == null) return; const k = a.toLowerCase(); if (!model.has(k)) model.set(k, new Set()); model.get(k)!.add(id) }
        stored.forEach((s, h) => {
          inputs[h].transactions.forEach((tx, i) => { add(tx.from, s.txIds[i].toString()); add(tx.to, s.txIds[i].toString()) })
        })
        expect(t.store.head()?.height).toBe(n - 1)
        for (const [h, s] of stored.entries()) {
          const block = await t.store.getBlock(h)
          expect(block.cid.toString()).toBe(s.cid.toString())
          expect(block.txIds.map(String)).toEqual(s.txIds.map(String))
          for (const [i, id] of s.txIds.entries()) {
            const tx = await t.store.getTransaction(id)
            expect([tx.height, tx.index]).toEqual([h, i])
          }
        }
        for (const address of t.chain.addresses) {
          const seen: string[] = []
          let cursor: string | undefined
          do {
            const page = await t.store.getAddressHistory(address, { limit, ...(cursor != null ? { cursor } : {}) })
            expect(page.items.length).toBeLessThanOrEqual(limit)
            for (const item of page.items) seen.push(item.id.toString())
            cursor = page.cursor
          } while (cursor != null)
          expect(new Set(seen).size).toBe(seen.length) // no entry twice across pages
          expect([...seen].sort()).toEqual([...(model.get(address.toLowerCase()) ?? [])].sort())
        }
      } finally {
        await t.cleanup()
      }
    }), params('indexes-model', STORE_RUNS))
  })

  it('kv: puts, deletes and batches read back like a Map, in key order, with prefix, limit and reverse', async () => {
    const t = await openTestStore()
    try {
      const key = fc.constantFrom('a', 'a/1', 'a/2', 'a/10', 'b', 'b/x', 'c/é', 'zz', 'a/1/deep')
      const op = fc.oneof(
        fc.record({ type: fc.constant('put' as const), key, value: fc.integer() }),
        fc.record({ type: fc.constant('del' as const), key }),
        fc.record({ type: fc.constant('batch' as const), ops: fc.array(fc.oneof(fc.record({ type: fc.constant('put' as const), key, value: fc.integer() }), fc.record({ type: fc.constant('del' as const), key })), { maxLength: 6 }) })
      )
      let run = 0
      await fc.assert(fc.asyncProperty(fc.array(op, { maxLength: 40 }), fc.constantFrom('', 'a', 'a/', 'b'), fc.integer({ min: 1, max: 10 }), fc.boolean(), async (ops, prefix, limit, reverse) => {
        const kv = t.store.kv<number>(`prop-${run++}`)
        const model = new Map<string, number>()
        for (const o of ops) {
          if (o.type === 'put') { await kv.put(o.key, o.value); model.set(o.key, o.value) } else if (o.type === 'del') { await kv.del(o.key); model.delete(o.key) } else {
            await kv.batch(o.ops)
            for (const b of o.ops) { if (b.type === 'put') model.set(b.key, b.value); else model.delete(b.key) }
          }
        }
        for (const [k, v] of model) expect(await kv.get(k)).toBe(v)
        const want = [...model.keys()].filter(k => k.startsWith(prefix)).sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))
        if (reverse) want.reverse()
        const got: string[] = []
        for await (const [k] of kv.iterate({ ...(prefix !== '' ? { prefix } : {}), limit, reverse })) got.push(k)
        expect(got).toEqual(want.slice(0, limit))
      }), params('kv-model'))
    } finally {
      await t.cleanup()
    }
  })

  it('state: puts, deletes, commits and rollbacks read back like a Map per height (flat layer and trie)', async () => {
    const address = (i: number): Uint8Array => Uint8Array.from({ length: 20 }, (_, j) => (i * 37 + j * 11) & 0xff)
    const step = fc.array(fc.oneof(
      fc.record({ put: fc.integer({ min: 0, max: 15 }), balance: fc.bigInt({ min: 0n, max: 2n ** 80n }), nonce: fc.integer({ min: 0, max: 1000 }) }),
      fc.record({ del: fc.integer({ min: 0, max: 15 }) })
    ), { maxLength: 8 })
    await fc.assert(fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 6 }), fc.nat(), async (steps, pick) => {
      const t = await openTestStore()
      try {
        const state = t.store.state
        const model = new Map<number, AccountState>()
        const perHeight: Array<Map<number, AccountState>> = []
        for (const [h, changes] of steps.entries()) {
          for (const c of changes) {
            if ('put' in c) { const a = { ...emptyAccount(), balance: c.balance, nonce: c.nonce }; await state.put(address(c.put), a); model.set(c.put, a) } else { await state.delete(address(c.del)); model.delete(c.del) }
          }
          await state.commit(h + 1)
          perHeight[h + 1] = new Map(model)
        }
        const check = async (want: Map<number, AccountState>, height?: number): Promise<void> => {
          for (let i = 0; i < 16; i++) {
            const got = height == null ? await state.get(address(i)) : await state.getFromTrie(address(i), { height })
            expect(stable(got ?? null)).toBe(stable(want.get(i) ?? null))
          }
        }
        await check(model)
        const back = 1 + (pick % steps.length)
        await check(perHeight[back], back)
        await state.rollback(back)
        await check(perHeight[back])
        // after a reopen the rolled-back state is what reads see
        await t.store.stop()
        const reopened = await t.reopen()
        for (let i = 0; i < 16; i++) expect(stable((await reopened.state.get(address(i))) ?? null)).toBe(stable(perHeight[back].get(i) ?? null))
      } finally {
        await t.cleanup()
      }
    }), params('state-model', STORE_RUNS))
  })
})
