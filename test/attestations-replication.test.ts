import { randomBytes } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { commitSample } from '../src/attestations/index.ts'
import { identityIdFromSeed } from '../src/index.ts'
import { openTestStore } from './helpers/store.ts'
import { until } from './helpers/wait.ts'


function attestation (validator: string, height: number, score: number): any {
  return {
    validator,
    height,
    timestamp: Date.now() - 1000 + height,
    score,
    commitment: commitSample(new TextEncoder().encode(`sample ${height}`), new Uint8Array(32).fill(7)),
    payload: { device: 'ring-2', readings: [height, score] }
  }
}

describe('attestations between two peers', () => {
  let cleanup: (() => Promise<void>) | undefined
  afterEach(async () => { await cleanup?.(); cleanup = undefined })

  it('replicate batched and signed (a validator writes only its own); an erasure replicates and every peer destroys its copy', async () => {
    const writers = [identityIdFromSeed('att-a'), identityIdFromSeed('att-b')]
    // each node has its own master key: payload ciphertext is readable only where it was sealed
    process.env.CHAINSTORE_MASTER_KEY_A = randomBytes(32).toString('hex')
    process.env.CHAINSTORE_MASTER_KEY_B = randomBytes(32).toString('hex')
    const a = await openTestStore({ attestations: { enabled: true, masterKeyEnv: 'CHAINSTORE_MASTER_KEY_A' }, network: { enabled: true, seed: 'att-a', writers, intervalMs: 300 } })
    const addrA = a.store.replication!.addresses()[0]
    const b = await openTestStore({ attestations: { enabled: true, masterKeyEnv: 'CHAINSTORE_MASTER_KEY_B' }, network: { enabled: true, seed: 'att-b', writers, peers: [addrA], intervalMs: 300 } })
    cleanup = async () => { await b.cleanup(); await a.cleanup() }
    const idA = a.store.replication!.identityId
    const atA = a.store.attestations!
    const atB = b.store.attestations!

    // A's own attestations, one batch of 50: replicated to B as one entry
    await atA.ingest(Array.from({ length: 50 }, (_, i) => attestation(idA, i + 1, 0.5 + (i % 10) / 40)))
    // an attestation of another validator stays local to A
    await atA.ingest([attestation('someone-else', 1, 0.9)])
    await until(async () => (await atB.range(idA)).length === 50)
    const onB = await atB.range(idA)
    expect(onB.map(r => r.height)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1))
    expect((await atB.summary({ validator: idA, resolution: 'day', from: 0, to: Date.now() + 60_000 }))?.count).toBe(50)
    await expect(atB.range('someone-else')).resolves.toEqual([])
    // A reads its payload; B holds the ciphertext but not the key that opens it
    expect(await atA.getPayload(idA, 3)).toEqual({ device: 'ring-2', readings: [3, expect.any(Number)] })
    await expect(atB.getPayload(idA, 3)).rejects.toThrow()
    expect(a.store.replication!.attestationLog!.stats.published).toBeGreaterThanOrEqual(1)

    // erasure on A: the record replicates, B erases its copy too
    const erased = await atA.erase(idA)
    expect(erased.keyDestroyed).toBe(true)
    await expect(atA.getPayload(idA, 3)).rejects.toMatchObject({ name: 'ErasedError' })
    await until(async () => atB.erasure(idA) != null)
    expect(atB.erasure(idA)).toMatchObject({ validator: idA, erasedAt: erased.erasedAt })
    await expect(atB.getPayload(idA, 3)).rejects.toMatchObject({ name: 'ErasedError' })
    expect(await atB.range(idA)).toEqual([])
    // GC on both takes the payload blocks whose pins the erasure released
    await a.store.gc()
    await b.store.gc()
    expect(b.store.replication!.attestationLog!.stats.refused).toBe(0)
  }, 120_000)
})
