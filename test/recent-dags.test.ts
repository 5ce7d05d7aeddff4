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

    const budget = sizeOf(list[4]) + sizeOf(list[5])
    const byBytes = new RecentDags(100, budget)
    for (const b of list) byBytes.add(b)
    expect(list.map(b => byBytes.get(b.cid) != null)).toEqual([false, false, false, false, true, true])
    expect(byBytes.size.bytes).toBeLessThanOrEqual(budget)

    // a block larger than the whole budget is not kept, and evicts nothing
    const [big] = blocks(1, 400)
    byBytes.add(big)
    expect(byBytes.get(big.cid)).toBeUndefined()
    expect(byBytes.get(list[5].cid)).toBeDefined()
    // the same block twice is kept once
    byCount.add(list[5])
    expect(byCount.size.blocks).toBe(4)
    byCount.clear()
    expect(byCount.size).toEqual({ blocks: 0, bytes: 0 })
  })
})
