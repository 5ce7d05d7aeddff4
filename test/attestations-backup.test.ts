import { randomBytes } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { commitSample, isBackupExcluded } from '../src/attestations/index.ts'
import { createBackup, restoreBackup } from '../src/backup/index.ts'
import { openTestStore } from './helpers/store.ts'

/** Every file under a directory, read whole. */
async function filesUnder (dir: string): Promise<Buffer[]> {
  const out: Buffer[] = []
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(await readFile(join(e.parentPath, e.name)))
  }
  return out
}

describe('attestations and backups', () => {
  let cleanup: (() => Promise<void>) | undefined
  afterEach(async () => { await cleanup?.(); cleanup = undefined })

  it('a backup taken before an erasure, restored into a fresh node, cannot yield the payload; no key or plaintext is in the backup', async () => {
    process.env.CHAINSTORE_MASTER_KEY_BK = randomBytes(32).toString('hex')
    const attestations = { enabled: true, masterKeyEnv: 'CHAINSTORE_MASTER_KEY_BK' }
    const a = await openTestStore({ attestations })
    const fresh = await openTestStore({ attestations })
    cleanup = async () => { await a.cleanup(); await fresh.cleanup() }
    const marker = 'READING-7f3a9c-PRIVATE'
    await a.store.storeBlocks(a.chain.take(3, a.store.config.limits))
    await a.store.attestations!.ingest([{
      validator: 'val-b', height: 1, timestamp: Date.now() - 5_000, score: 0.7,
      commitment: commitSample(new TextEncoder().encode('sample'), new Uint8Array(32).fill(3)),
      payload: { device: 'ring', note: marker }
    }])
    expect(await a.store.attestations!.getPayload('val-b', 1)).toMatchObject({ note: marker })

    // the key material this node holds: wrapped data keys, under the attestation prefixes
    const secrets: Buffer[] = []
    for await (const [key, value] of a.store.maintenance().db.iterator()) if (isBackupExcluded(key) && value.length >= 32) secrets.push(Buffer.from(value))
    expect(secrets.length).toBeGreaterThan(0)

    const backups = join(a.dir, 'backups')
    await createBackup(a.store, backups)
    await a.store.attestations!.erase('val-b')
    await expect(a.store.attestations!.getPayload('val-b', 1)).rejects.toMatchObject({ name: 'ErasedError' })

    // nothing in the backup's files is a key or the plaintext
    const files = await filesUnder(backups)
    expect(files.length).toBeGreaterThan(0)
    for (const f of files) {
      expect(f.includes(marker)).toBe(false)
      for (const s of secrets) expect(f.includes(s)).toBe(false)
    }

    // restored into a fresh node (same master key even): the chain is back, the payload is not readable
    await fresh.store.stop()
    const target = join(fresh.dir, 'data')
    await restoreBackup(backups, target)
    const restored = await fresh.reopen()
    expect(restored.head()?.height).toBe(2)
    await expect(restored.attestations!.getPayload('val-b', 1)).rejects.toThrow()
    const exported = await restored.attestations!.exportValidator('val-b')
    expect(exported.dataKeyHeld).toBe(false)
    expect(JSON.stringify(exported)).not.toContain(marker)
  })
})
