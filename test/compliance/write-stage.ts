import type { CID } from 'multiformats/cid'
import { describe, expect, it } from 'vitest'
import type { StageContext, WriteStage } from '../../src/chain/types.ts'
import type { EncodedBlock } from '../../src/codec/encode.ts'
import type { BlocksDb, RootDb } from '../../src/storage/level.ts'
import { startBatch } from '../../src/storage/level.ts'
import type { WriteBatch } from '../../src/storage/types.ts'

/** One op a stage added to a batch, in a comparable form. */
type Op = ['put' | 'del' | 'block', string, string]

/** A batch that records what a stage adds, and can replay it into a real one. */
export class RecordingBatch implements WriteBatch {
  readonly ops: Op[] = []
  readonly #replay: Array<(b: WriteBatch) => void> = []
  put (key: Uint8Array, value: Uint8Array): void { this.ops.push(['put', hex(key), hex(value)]); this.#replay.push(b => b.put(key, value)) }
  del (key: Uint8Array): void { this.ops.push(['del', hex(key), '']); this.#replay.push(b => b.del(key)) }
  putBlock (cid: CID, bytes: Uint8Array): void { this.ops.push(['block', cid.toString(), hex(bytes)]); this.#replay.push(b => b.putBlock(cid, bytes)) }
  replay (into: WriteBatch): void { for (const op of this.#replay) op(into) }
}

function hex (b: Uint8Array): string { return Buffer.from(b).toString('hex') }

/** A stage under test, the blocks it writes, and how its reader checks what it finds. */
export interface WriteStageFixture {
  db: RootDb
  blocks: BlocksDb
  stage: WriteStage
  /** Blocks to stage, lowest height first, each with its context. */
  writes: Array<{ block: EncodedBlock, ctx: StageContext }>
  /** Reads back through the stage's own reader and asserts it finds what was staged. */
  readBack: (block: EncodedBlock, ctx: StageContext) => void | Promise<void>
}

/**
 * The behaviour every write stage promises: it adds ops to the batch it is
 * given and writes nothing itself; the same block in the same state stages the
 * same ops; and once the batch is written its reader finds what it staged.
 */
export function writeStageTests (name: string, test: { setup: () => Promise<WriteStageFixture>, teardown: () => Promise<void> }): void {
  describe(`WriteStage compliance: ${name}`, () => {
    it('stages ops only into the batch it is given (nothing reaches LevelDB before the write)', async () => {
      const f = await test.setup()
      try {
        const count = async (): Promise<number> => { let n = 0; for await (const _ of f.db.keys()) n++; return n }
        const before = await count()
        const batch = new RecordingBatch()
        for (const w of f.writes) f.stage.stage(batch, w.block, w.ctx)
        expect(batch.ops.length).toBeGreaterThan(0)
        expect(await count()).toBe(before)
      } finally { await test.teardown() }
    })

    it('is deterministic: the same blocks in the same state stage the same ops', async () => {
      const f = await test.setup()
      try {
        const a = new RecordingBatch()
        const b = new RecordingBatch()
        for (const w of f.writes) f.stage.stage(a, w.block, w.ctx)
        for (const w of f.writes) f.stage.stage(b, w.block, w.ctx)
        expect(b.ops).toEqual(a.ops)
      } finally { await test.teardown() }
    })

    it('what it stages is what its reader finds once the batch is written', async () => {
      const f = await test.setup()
      try {
        const recorded = new RecordingBatch()
        for (const w of f.writes) f.stage.stage(recorded, w.block, w.ctx)
        const batch = startBatch(f.db, f.blocks)
        recorded.replay(batch)
        await batch.write(false)
        for (const w of f.writes) await f.readBack(w.block, w.ctx)
      } finally { await test.teardown() }
    })
  })
}
