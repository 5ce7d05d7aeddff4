import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const run = promisify(execFile)
// the examples import `chainstore`; scripts/source-exports.mjs resolves it to src/ (no build needed)
const SOURCE = ['--import', './scripts/source-exports.mjs']

describe('examples', () => {
  it('examples/embed.ts runs and exits 0', async () => {
    const { stdout } = await run(process.execPath, [...SOURCE, 'examples/embed.ts'], { timeout: 60_000 })
    const summary = JSON.parse(stdout)
    expect(summary).toMatchObject({ head: 19, rounds: 5, receiptStatus: expect.any(Number) })
    expect(summary.headerBytesViaHelia).toBeGreaterThan(0)
  })

  it('examples/replicate.ts replicates ten quorum writes and validator state to a follower', async () => {
    const { stdout } = await run(process.execPath, [...SOURCE, 'examples/replicate.ts'], { timeout: 60_000 })
    const summary = JSON.parse(stdout)
    expect(summary).toMatchObject({ validatorHead: 9, followerHead: 9, sameBlock: true, validators: ['validator-1'] })
  })

  it('examples/host-libp2p.ts embeds chainstore on the application\'s libp2p node: peers see the host\'s peer id, a devnet peer follows, stop leaves the host running', async () => {
    const { stdout } = await run(process.execPath, [...SOURCE, 'examples/host-libp2p.ts'], { timeout: 90_000 })
    const summary = JSON.parse(stdout)
    expect(summary.storePeerId).toBe(summary.hostPeerId)
    expect(summary.followerPeerId).not.toBe(summary.hostPeerId)
    expect(summary).toMatchObject({ followerSeesHost: true, followerHead: 4, sameHead: true, hostRunningAfterStop: true })
    // chainstore's protocols came and left with the store; the application's own stayed
    expect(summary.addedWhileEmbedded).toEqual(expect.arrayContaining(['/chainstore/blocks/1.0.0', '/chainstore/head/1.0.0']))
    expect(summary.leftAfterStop).toEqual([])
    expect(summary.hostHelloAfterStop).toBe(true)
  })
})
