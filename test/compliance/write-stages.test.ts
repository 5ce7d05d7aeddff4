/** The write-stage compliance suite against every stage of the write pipeline: block bytes, indexes, chain pins. */
import { equals } from 'uint8arrays/equals'
import { expect } from 'vitest'
import { blockBytesStage, indexStage } from '../../src/chain/stages.ts'
import type { StageContext } from '../../src/chain/types.ts'
import { encodeBlock, type EncodedBlock } from '../../src/codec/encode.ts'
import { parseConfig } from '../../src/config/index.ts'
import { BlockRecords, HeightIndex, TxRecords } from '../../src/indexes/heights.ts'
import { WindowBuilder } from '../../src/indexes/windows.ts'
import { ChainPins } from '../../src/pinning/chain-pin.ts'
import { resolvePolicy } from '../../src/pinning/policy.ts'
import { readPin } from '../../src/pinning/records.ts'
import { openLevel, type BlocksDb, type RootDb } from '../../src/storage/level.ts'
import { levelSource } from '../../src/storage/sources.ts'
import { SyntheticChain } from '../../src/synthetic/chain.ts'
import { tempDir } from '../helpers/store.ts'
import { writeStageTests } from './write-stage.ts'

const limits = parseConfig({}).limits
let cleanup: (() => Promise<void>) | undefined
const teardown = async (): Promise<void> => { await cleanup?.(); cleanup = undefined }

/** A fresh LevelDB and ten encoded blocks of a synthetic chain; the last two are staged on a side branch. */
async function base (): Promise<{ db: RootDb, blocks: BlocksDb, writes: Array<{ block: EncodedBlock, ctx: StageContext }> }> {
  const t = await tempDir('chainstore-stage-')
  const { db, blocks } = await openLevel(t.dir, { writeBufferSize: 4 << 20, cacheSize: 8 << 20 })
  cleanup = async () => { await db.close(); await t.cleanup() }
  const chain = new SyntheticChain({ txsPerBlock: [3, 12], addresses: 20, seed: 7 })
  const encoded = Array.from({ length: 10 }, () => encodeBlock(chain.next(limits), limits))
  return { db, blocks, writes: encoded.map((block, i) => ({ block, ctx: { canonical: i < 8, head: 9 } })) }
}

writeStageTests('block bytes', {
  setup: async () => {
    const b = await base()
    const local = levelSource(b.blocks)
    return {
      ...b,
      stage: blockBytesStage,
      readBack: async block => {
        for (const ipld of [block.header, ...block.txPages, ...block.receiptPages]) expect(equals(await local.get(ipld.cid), ipld.bytes)).toBe(true)
      }
    }
  },
  teardown
})

writeStageTests('indexes (block records; height, tx and history entries on the canonical chain)', {
  setup: async () => {
    const b = await base()
    const heights = new HeightIndex(b.db)
    const records = new BlockRecords(b.db)
    const txs = new TxRecords(b.db)
    return {
      ...b,
      stage: indexStage(new WindowBuilder(key => b.db.getSync(key) ?? undefined)),
      readBack: (block, ctx) => {
        expect(records.heightOf(block.cid)).toBe(block.height)
        if (!ctx.canonical) {
          expect(heights.at(block.height)).toBeUndefined()
          return
        }
        expect(heights.at(block.height)?.equals(block.cid)).toBe(true)
        expect(heights.txIds(block.height, block.txs.length)?.map(String)).toEqual(block.txs.map(t => t.id.toString()))
        for (const [i, tx] of block.txs.entries()) {
          const record = txs.get(tx.id)
          expect(record).toMatchObject({ height: block.height, index: i, page: tx.page, position: tx.position })
          expect(record?.blockCid.equals(block.cid)).toBe(true)
          expect(equals(record!.txBytes, tx.bytes)).toBe(true)
        }
      }
    }
  },
  teardown
})

writeStageTests('chain pins (validator preset: a window of whole blocks, headers beyond)', {
  setup: async () => {
    const b = await base()
    const policy = await resolvePolicy('validator')
    const pins = new ChainPins({ policy, heights: new HeightIndex(b.db), readPin: cid => readPin(b.db, cid), finalized: () => -1 })
    return {
      ...b,
      stage: pins,
      readBack: (block, ctx) => {
        const want = pins.pinAt(block.height, ctx.head, ctx.canonical)
        const record = readPin(b.db, block.cid)
        if (want == null) {
          expect(record?.reasons.includes('chain') ?? false).toBe(false)
          return
        }
        expect(record?.reasons).toContain('chain')
        expect(record?.height).toBe(block.height)
        expect(record?.deep?.includes('chain') ?? record?.recursive).toBe(want === 'dag')
      }
    }
  },
  teardown
})
