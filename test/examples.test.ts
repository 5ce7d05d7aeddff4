import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const run = promisify(execFile)

describe('examples', () => {
  it('examples/embed.ts runs and exits 0', async () => {
    const { stdout } = await run(process.execPath, ['examples/embed.ts'], { timeout: 60_000 })
    const summary = JSON.parse(stdout)
    expect(summary).toMatchObject({ head: 19, rounds: 5, receiptStatus: expect.any(Number) })
    expect(summary.headerBytesViaHelia).toBeGreaterThan(0)
  })

  it('examples/replicate.ts replicates ten quorum writes and validator state to a follower', async () => {
    const { stdout } = await run(process.execPath, ['examples/replicate.ts'], { timeout: 60_000 })
    const summary = JSON.parse(stdout)
    expect(summary).toMatchObject({ validatorHead: 9, followerHead: 9, sameBlock: true, validators: ['validator-1'] })
  })
})
