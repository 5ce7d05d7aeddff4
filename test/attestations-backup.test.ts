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

describe('encryption at rest of record kinds the config names', () => {
  let cleanup: (() => Promise<void>) | undefined
  afterEach(async () => { await cleanup?.(); cleanup = undefined })

  it('a kv namespace in encryptKinds is sealed: values never on disk in the clear, moved or altered values refused, a wrong master key refused at open', async () => {
    const key = randomBytes(32).toString('hex')
    process.env.CHAINSTORE_MASTER_KEY_KV = key
    const attestations = { enabled: true, masterKeyEnv: 'CHAINSTORE_MASTER_KEY_KV', encryptKinds: ['kv.operators'] }
    const t = await openTestStore({ attestations })
    cleanup = t.cleanup
    const marker = 'operator-contact-3b1d'
    const secret = t.store.kv<{ contact: string }>('operators')
    await secret.put('op-1', { contact: marker })
    await secret.batch([{ type: 'put', key: 'op-2', value: { contact: 'other' } }])
    expect(await secret.get('op-1')).toEqual({ contact: marker })
    expect((await secret.getMany(['op-1', 'op-2', 'op-3'])).map(v => v?.contact)).toEqual([marker, 'other', undefined])
    const listed: string[] = []
    for await (const [k] of secret.iterate()) listed.push(k)
    expect(listed).toEqual(['op-1', 'op-2'])
    // a namespace not named stays plain
    await t.store.kv('plain').put('x', { contact: 'visible' })

    // what LevelDB holds for the sealed namespace is ciphertext
    const { openKv } = await import('../src/storage/kv.ts')
    const inner = openKv<string>(t.store.maintenance().db, 'operators', { sync: false, isOpen: () => true })
    const stored = (await inner.get('op-1'))!
    expect(stored).not.toContain(marker)
    expect(Buffer.from(stored, 'base64').includes(marker)).toBe(false)
    // a sealed value moved under another key does not open
    await inner.put('op-2', stored)
    await expect(secret.get('op-2')).rejects.toMatchObject({ name: 'TamperedCiphertextError' })
    // an altered one neither
    const flipped = Buffer.from(stored, 'base64'); flipped[flipped.length - 1] ^= 1
    await inner.put('op-1', flipped.toString('base64'))
    await expect(secret.get('op-1')).rejects.toMatchObject({ name: 'TamperedCiphertextError' })

    // a wrong master key: the node refuses to open, nothing decrypts into garbage
    await t.store.stop()
    process.env.CHAINSTORE_MASTER_KEY_KV = randomBytes(32).toString('hex')
    await expect(t.reopen()).rejects.toMatchObject({ name: 'WrongMasterKeyError' })
    process.env.CHAINSTORE_MASTER_KEY_KV = key
    const back = await t.reopen()
    await back.kv('operators').put('op-3', { contact: 'again' })
    expect(await back.kv('operators').get('op-3')).toEqual({ contact: 'again' })
  })
})
