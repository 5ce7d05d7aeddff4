import { afterEach, describe, expect, it } from 'vitest'
import { createChainStore, type BlockInput } from '../src/index.ts'
import { openTestStore, quietLogger } from './helpers/store.ts'

let ctx: Awaited<ReturnType<typeof openTestStore>> | undefined
afterEach(async () => { await ctx?.cleanup(); ctx = undefined })

/** Stores 3 good blocks, returns a 4th to corrupt, and a snapshot function of what is stored. */
async function setup (config = {}): Promise<{ next: BlockInput, fingerprint: () => Promise<string> }> {
  ctx = await openTestStore(config)
  const blocks = ctx.chain.take(4, ctx.store.config.limits)
  await ctx.store.storeBlocks(blocks.slice(0, 3))
  const store = ctx.store
  return {
    next: blocks[3],
    fingerprint: async () => {
      const parts: string[] = [JSON.stringify(store.head(), (_k, v) => typeof v === 'object' && v?.asCID != null ? String(v) : v)]
      for await (const b of store.getBlocks(0, 10)) parts.push(b.cid.toString(), b.txIds.join(','))
      const s = await store.status()
      parts.push(String(s.head?.height))
      return parts.join('|')
    }
  }
}

/** The block with transaction `i` changed (receipts stay aligned). */
function withTx (b: BlockInput, i: number, change: Record<string, unknown>): BlockInput {
  return { ...b, transactions: b.transactions.map((tx, j) => j === i ? { ...tx, ...change } as any : tx) }
}

const cases: Array<[string, (b: BlockInput) => unknown, string, RegExp]> = [
  ['negative height', b => ({ ...b, height: -1 }), 'InvalidBlockError', /block\.height/],
  ['fractional height', b => ({ ...b, height: 3.5 }), 'InvalidBlockError', /block\.height/],
  ['height as string', b => ({ ...b, height: '3' }), 'InvalidBlockError', /block\.height/],
  ['malformed parent CID', b => ({ ...b, parent: 'not-a-cid' }), 'InvalidBlockError', /block\.parent/],
  ['missing parent above height 0', b => ({ ...b, parent: null }), 'InvalidBlockError', /block\.parent/],
  ['bad proposer address', b => ({ ...b, proposer: '0x1234' }), 'InvalidBlockError', /block\.proposer/],
  ['state root of wrong length', b => ({ ...b, stateRoot: '0xabcd' }), 'InvalidBlockError', /block\.stateRoot/],
  ['transactions not an array', b => ({ ...b, transactions: {} }), 'InvalidBlockError', /block\.transactions/],
  ['transaction with bad sender', b => withTx(b, 0, { from: 'alice' }), 'InvalidBlockError', /transactions\[0\]\.from/],
  ['transaction with non-hex data', b => withTx(b, 1, { data: '0xzz' }), 'InvalidBlockError', /transactions\[1\]\.data/],
  ['negative value', b => withTx(b, 0, { value: -5n }), 'InvalidBlockError', /transactions\[0\]\.value/],
  ['value as float', b => withTx(b, 0, { value: 1.5 }), 'InvalidBlockError', /transactions\[0\]\.value/],
  ['nonce as string', b => withTx(b, 0, { nonce: '1' }), 'InvalidBlockError', /transactions\[0\]\.nonce/],
  ['receipts count mismatch', b => ({ ...b, receipts: b.receipts!.slice(1) }), 'InvalidBlockError', /block\.receipts/],
  ['receipt with bad status', b => ({ ...b, receipts: b.receipts!.map((r, i) => i === 0 ? { ...r, status: 2 } : r) }), 'InvalidBlockError', /receipts\[0\]\.status/],
  ['log with short topic', b => ({ ...b, receipts: b.receipts!.map((r, i) => i === 0 ? { ...r, logs: [{ address: b.proposer, topics: ['0x01'] }] } : r) }), 'InvalidBlockError', /logs\[0\]\.topics\[0\]/],
  ['log with five topics', b => ({ ...b, receipts: b.receipts!.map((r, i) => i === 0 ? { ...r, logs: [{ address: b.proposer, topics: Array(5).fill('0x' + '11'.repeat(32)) }] } : r) }), 'InvalidBlockError', /topics/],
  ['null block', () => null, 'InvalidBlockError', /block/],
  ['oversized transaction', b => ({ ...b, transactions: [{ ...b.transactions[0], data: new Uint8Array(200_000) }], receipts: undefined }), 'TransactionTooLargeError', /transactions\[0\].*limit/],
  ['too many transactions', b => ({ ...b, transactions: Array(20_001).fill(b.transactions[0]), receipts: undefined }), 'BlockTooLargeError', /20001 transactions/]
]

describe('bad input gets a typed error naming the problem and changes nothing', () => {
  for (const [name, mutate, errorName, message] of cases) {
    it(name, async () => {
      const { next, fingerprint } = await setup()
      const before = await fingerprint()
      const bad = mutate(next) as BlockInput
      const err = await ctx!.store.storeBlock(bad).then(() => undefined, (e: Error) => e)
      expect(err?.name).toBe(errorName)
      expect(err?.message).toMatch(message)
      expect(await fingerprint()).toBe(before)
      // a batch with one bad block writes none of the good ones either
      const batchErr = await ctx!.store.storeBlocks([next, bad]).then(() => undefined, (e: Error) => e)
      expect(batchErr?.name).toBe(errorName)
      expect(await fingerprint()).toBe(before)
      // and the store still takes the good block afterwards
      await ctx!.store.storeBlock(next)
      expect(ctx!.store.head()?.height).toBe(3)
    })
  }

  it('a whole block over maxBlockBytes is a BlockTooLargeError', async () => {
    ctx = await openTestStore({ limits: { maxBlockBytes: 4096 } }, { txsPerBlock: 40 })
    const genesis = ctx.chain.next({ ...ctx.store.config.limits, maxBlockBytes: 1 << 24 })
    const err = await ctx.store.storeBlock(genesis).then(() => undefined, (e: Error) => e)
    expect(err?.name).toBe('BlockTooLargeError')
    expect(err?.message).toMatch(/4096/)
    expect(ctx.store.head()).toBeNull()
  })

  it('reads with bad arguments get typed errors', async () => {
    await setup()
    const s = ctx!.store
    await expect(s.getBlock(-1)).rejects.toHaveProperty('name', 'InvalidHeightError')
    await expect(s.getBlock(1.5)).rejects.toHaveProperty('name', 'InvalidHeightError')
    await expect(s.getBlock(99)).rejects.toHaveProperty('name', 'BlockNotFoundError')
    await expect(s.getBlock('bafy-nope')).rejects.toHaveProperty('name', 'InvalidCidError')
    await expect(s.getBlock({} as any)).rejects.toHaveProperty('name', 'InvalidCidError')
    await expect(s.getTransaction('Qm-nope')).rejects.toHaveProperty('name', 'InvalidCidError')
    await expect(s.getTransaction('bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy')).rejects.toHaveProperty('name', 'TransactionNotFoundError')
    await expect(s.getReceipt('bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy')).rejects.toHaveProperty('name', 'TransactionNotFoundError')
    await expect(s.getAddressHistory('0xnothex')).rejects.toHaveProperty('name', 'InvalidAddressError')
    await expect(s.getAddressHistory(ctx!.chain.addresses[0], { limit: 0 })).rejects.toHaveProperty('name', 'InvalidQueryError')
    await expect(s.getAddressHistory(ctx!.chain.addresses[0], { limit: 5000 })).rejects.toHaveProperty('name', 'InvalidQueryError')
    await expect(s.getAddressHistory(ctx!.chain.addresses[0], { cursor: 'garbage!' })).rejects.toHaveProperty('name', 'InvalidCursorError')
    await expect(s.getLogs({ fromHeight: 5, toHeight: 2 })).rejects.toHaveProperty('name', 'InvalidQueryError')
    await expect(s.getLogs({ topics: ['0x12'] })).rejects.toHaveProperty('name', 'InvalidQueryError')
    await expect(s.getLogs({ address: 'nope' })).rejects.toHaveProperty('name', 'InvalidQueryError')
    await expect(s.getBytes('nope')).rejects.toHaveProperty('name', 'InvalidCidError')
    await expect(s.putBytes('text' as any)).rejects.toHaveProperty('name', 'InvalidBlockError')
    const it = s.getBlocks(-3, 2)
    await expect(it.next()).rejects.toHaveProperty('name', 'InvalidHeightError')
  })

  it('a bad config is an InvalidConfigError naming the field', async () => {
    await expect(createChainStore({ durability: 'sometimes' } as any, { logger: quietLogger })).rejects.toMatchObject({ name: 'InvalidConfigError', message: /durability/ })
    await expect(createChainStore({ limits: { pageBytes: 10 } }, { logger: quietLogger })).rejects.toMatchObject({ name: 'InvalidConfigError', message: /limits\.pageBytes/ })
    // a misspelt key is refused by name in every section, not silently ignored (the default would apply)
    for (const [section, typo] of [['limits', 'pageByte'], ['cache', 'maxByte'], ['level', 'writeBuffer'], ['api', 'prot']] as const) {
      await expect(createChainStore({ [section]: { [typo]: 1 } } as never, { logger: quietLogger })).rejects.toMatchObject({ name: 'InvalidConfigError', message: new RegExp(typo) })
    }
    await expect(createChainStore({ nope: 1 } as any, { logger: quietLogger })).rejects.toMatchObject({ name: 'InvalidConfigError' })
  })

  it('an aborted signal stops a range read', async () => {
    await setup()
    const ac = new AbortController()
    ac.abort()
    const it = ctx!.store.getBlocks(0, 2, { signal: ac.signal })
    await expect(it.next()).rejects.toHaveProperty('name', 'AbortError')
  })
})
