import { CID } from 'multiformats/cid'
import { describe, expect, it } from 'vitest'
import { RecentDags } from '../src/chain/recent-dags.ts'
import { parseConfig } from '../src/config/index.ts'
import { encodeBlock, type EncodedBlock } from '../src/codec/encode.ts'
import { cidOf } from '../src/codec/cid.ts'
import { SyntheticChain } from '../src/synthetic/chain.ts'

// The last committed blocks' IPLD blocks, kept for the block protocol to
// serve: the same CIDs and bytes as stored, copies of their own, bounded by
// count and bytes, oldest out first.

const limits = parseConfig({}).limits
const blocks = (n: number, txs = 50): EncodedBlock[] => {
  const chain = new SyntheticChain({ seed: 5, txsPerBlock: txs, logShare: 0.5 })
  return Array.from({ length: n }, () => encodeBlock(chain.next(limits), limits))
}
const sizeOf = (b: EncodedBlock): number => [b.header, ...b.txPages, ...b.receiptPages].reduce((n, p) => n + p.bytes.length, 0)

describe('RecentDags', () => {
  it('gives back a block\'s header and pages in order, each hashing to its CID, in a copy of its own', () => {
    const [b] = blocks(1)
    const recent = new RecentDags()
    recent.add(b)
    const got = recent.get(b.cid)!
    const want = [b.header, ...b.txPages, ...b.receiptPages]
    expect(got.map(x => x.cid.toString())).toEqual(want.map(x => x.cid.toString()))
    got.forEach((x, i) => {
      expect(Buffer.from(x.bytes).equals(Buffer.from(want[i].bytes))).toBe(true)
      expect(cidOf(x.bytes).equals(x.cid)).toBe(true)
    })
    // later changes to the committed block's buffers do not reach the copy
    want[1].bytes[0] ^= 0xff
    expect(cidOf(got[1].bytes).equals(got[1].cid)).toBe(true)
    // looked up by any CID object naming the block
    expect(recent.get(CID.parse(b.cid.toString()))).toBe(got)
    expect(recent.size).toEqual({ blocks: 1, bytes: sizeOf(b) })
  })

  it('keeps at most the given number of blocks and bytes, dropping the oldest first', () => {
    const list = blocks(6)
    const byCount = new RecentDags(4, 1 << 30)
    for (const b of list) byCount.add(b)
    expect(list.map(b => byCount.get(b.cid) != null)).toEqual([false, false, true, true, true, true])
    expect(byCount.size.blocks).toBe(4)

    // bytes: a ring of 2 chunks, each a little over two blocks; moving into a chunk drops what it held
    const chunk = Math.max(...list.map(sizeOf)) * 2 + 100
    const byBytes = new RecentDags(100, 2 * chunk, chunk)
    for (const b of list) byBytes.add(b)
    const kept = list.map(b => byBytes.get(b.cid) != null)
    expect(kept).toEqual([false, false, true, true, true, true])
    expect(byBytes.size.bytes).toBe(list.slice(2).reduce((n, b) => n + sizeOf(b), 0))
    expect(byBytes.size.bytes).toBeLessThanOrEqual(2 * chunk)

    // a block larger than a chunk is not kept, and drops nothing
    const [big] = blocks(1, 400)
    expect(sizeOf(big)).toBeGreaterThan(chunk)
    byBytes.add(big)
    expect(byBytes.get(big.cid)).toBeUndefined()
    expect(list.map(b => byBytes.get(b.cid) != null)).toEqual(kept)
    // the same block twice is kept once
    byCount.add(list[5])
    expect(byCount.size.blocks).toBe(4)
    byCount.clear()
    expect(byCount.size).toEqual({ blocks: 0, bytes: 0 })
  })

  it('a ring filled around many times never hands out bytes another block overwrote', () => {
    const list = blocks(60, 20)
    const chunk = Math.max(...list.map(sizeOf)) * 3
    const recent = new RecentDags(1000, 3 * chunk, chunk)
    let everDropped = 0
    for (const [i, b] of list.entries()) {
      recent.add(b)
      for (const x of list.slice(0, i + 1)) {
        const got = recent.get(x.cid)
        if (got == null) { everDropped++; continue }
        const want = [x.header, ...x.txPages, ...x.receiptPages]
        got.forEach((g, j) => { expect(Buffer.from(g.bytes).equals(Buffer.from(want[j].bytes))).toBe(true) })
      }
    }
    expect(everDropped).toBeGreaterThan(0)
    // the newest block is always kept, and the blocks kept are a run of the newest ones
    const kept = list.map(b => recent.get(b.cid) != null)
    expect(kept.at(-1)).toBe(true)
    expect(kept.indexOf(true)).toBe(kept.lastIndexOf(false) + 1)
  })
})
