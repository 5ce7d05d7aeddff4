import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createBackup, createBackups, listBackups, openDestination, restoreBackup, verifyBackup, type BackupDestination, type DestinationSpec } from '../src/backup/index.ts'
import { loadOptional } from '../src/backup/destinations/common.ts'
import { createChainStore, type ChainStore } from '../src/index.ts'
import { startAzurite, startS3rver, type ObjectServer } from './helpers/object-servers.ts'
import { openTestStore, quietLogger, tempDir } from './helpers/store.ts'
import { freePort } from './helpers/wait.ts'

let s3: ObjectServer
let azure: ObjectServer
beforeAll(async () => { [s3, azure] = await Promise.all([startS3rver(['chainstore-bk', 'chainstore-copy']), startAzurite(['chainstore-bk'])]) })
afterAll(async () => { await Promise.all([s3?.stop(), azure?.stop()]) })

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c() })

let n = 0
/** A fresh prefix per case: the buckets are shared. */
const at = (server: ObjectServer, extra: Partial<DestinationSpec> = {}): DestinationSpec => server.spec('chainstore-bk', `t${++n}`, extra)

async function source (blocks: number) {
  const t = await openTestStore()
  cleanups.push(t.cleanup)
  await t.store.storeBlocks(t.chain.take(blocks, t.store.config.limits))
  return t
}

async function freshDir (): Promise<string> {
  const t = await tempDir('chainstore-restore-')
  cleanups.push(t.cleanup)
  return join(t.dir, 'data')
}

async function freshStore (): Promise<ChainStore> {
  const store = await createChainStore({ dataDir: await freshDir() }, { logger: quietLogger })
  cleanups.push(async () => { await store.stop() })
  return store
}

async function objects (spec: DestinationSpec | string): Promise<string[]> {
  const d = await openDestination(spec)
  try {
    const out: string[] = []
    for await (const o of d.list('')) out.push(o.key)
    return out.sort()
  } finally { await d.close() }
}

/** Every text an error carries: message, stack, detail, cause chain. */
function everything (err: unknown): string {
  const parts: string[] = []
  for (let e = err as any; e != null; e = e.cause) parts.push(String(e.message), String(e.stack), JSON.stringify(e.detail ?? {}), JSON.stringify(e))
  return parts.join('\n')
}

async function flip (dest: BackupDestination, key: string): Promise<void> {
  const chunks: Uint8Array[] = []
  for await (const c of dest.read(key)) chunks.push(c)
  const bytes = Buffer.concat(chunks)
  bytes[Math.floor(bytes.length / 2)] ^= 0x10
  await dest.write(key, (async function * () { yield bytes })())
}

describe('backups to object storage (s3rver, Azurite)', () => {
  it('one create writes the same backup to a dir, a bucket and a container; incrementals upload only new CARs; each verifies and restores', async () => {
    const t = await source(20)
    await t.store.addFile(new Uint8Array(400_000).map((_, i) => i % 251))
    const dir = join(await freshDir(), '..', 'bk')
    const to = [dir, at(s3), at(azure)]
    const full = await createBackups(t.store, to, { incremental: 'auto' })
    expect(full.map(r => r.error)).toEqual([undefined, undefined, undefined])
    const cids = new Set(full.map(r => r.result!.manifestCid.toString()))
    expect(cids.size).toBe(1)
    expect(full.map(r => r.result!.manifest.kind)).toEqual(['full', 'full', 'full'])
    expect(full[1].destination).toMatch(/^s3:\/\/chainstore-bk\/t\d+$/)

    await t.store.storeBlocks(t.chain.take(5, t.store.config.limits))
    const inc = await createBackups(t.store, to, { incremental: 'auto' })
    expect(inc.map(r => r.result?.manifest.kind)).toEqual(['incremental', 'incremental', 'incremental'])
    expect(inc[1].result!.manifest).toMatchObject({ from: 20, to: 24 })
    const fullId = full[1].result!.id
    const incId = inc[1].result!.id
    // the full backup's objects are untouched; the incremental adds its own (the blob's DAG is not uploaded again)
    for (const spec of to.slice(1)) {
      const keys = await objects(spec)
      expect(keys.filter(k => k.startsWith(fullId + '/'))).toEqual(full[1].result!.manifest.files.map(f => `${fullId}/${f.name}`).concat(`${fullId}/manifest.cbor`).sort())
      expect(keys.filter(k => k.startsWith(incId + '/'))).toEqual(inc[1].result!.manifest.files.map(f => `${incId}/${f.name}`).concat(`${incId}/manifest.cbor`).sort())
    }
    const pins = inc[1].result!.manifest.files.find(f => f.kind === 'pins')!
    expect(pins.blocks).toBe(1)

    for (const spec of to) {
      const list = await listBackups(spec)
      expect(list.map(b => b.manifest.kind)).toEqual(['full', 'incremental'])
      const v = await verifyBackup(spec)
      expect(v.backups.length).toBe(2)
    }
    const intoDir = await freshDir()
    const r1 = await restoreBackup(to[1], intoDir)
    expect(r1).toMatchObject({ destination: full[1].destination, skipped: [], head: { height: 24 } })
    const store = await freshStore()
    const r2 = await restoreBackup(to[2], store)
    expect(r2.head?.height).toBe(24)
    expect((await store.getBlock(24)).cid.toString()).toBe((await t.store.getBlock(24)).cid.toString())
    // the restore is in the restored store's audit trail
    await store.audit!.flush()
    const events = []
    for await (const e of store.audit!.events()) events.push(e)
    expect(events.map(e => e.kind)).toContain('backup.restored')
    expect(events.find(e => e.kind === 'backup.restored')!.detail).toMatchObject({ destination: full[2].destination })
    // and the backups in the source's
    await t.store.audit!.flush()
    const made = []
    for await (const e of t.store.audit!.events()) if (e.kind === 'backup.created') made.push(e.detail.destination)
    expect(made).toEqual([dir, full[1].destination, full[2].destination, dir, full[1].destination, full[2].destination])
  })

  it('a corrupted object: verify names the destination, file and block; restore falls over to the next destination and reports the corrupt copy', async () => {
    const t = await source(12)
    const a = at(s3)
    const b = at(azure)
    const [ra] = await createBackups(t.store, [a, b])
    const dest = await openDestination(a)
    try { await flip(dest, `${ra.result!.id}/chain.car`) } finally { await dest.close() }
    await expect(verifyBackup(a)).rejects.toMatchObject({ name: 'BackupCorruptError', detail: expect.objectContaining({ destination: ra.destination, file: 'chain.car', backup: ra.result!.id }) })
    const skipped: string[] = []
    const r = await restoreBackup([a, b], await freshDir(), { onSkip: s => skipped.push(`${s.destination} ${s.error}`) })
    expect(r.destination).toMatch(/^azure:\/\//)
    expect(r.skipped).toMatchObject([{ destination: ra.destination, error: 'BackupCorruptError', detail: { file: 'chain.car' } }])
    expect(skipped).toEqual([`${ra.destination} BackupCorruptError`])
    expect(r.head?.height).toBe(11)
  })

  it('a destination that is down is skipped by restore; with every copy bad, RestoreFailedError names each', async () => {
    const t = await source(6)
    const good = at(azure)
    await createBackup(t.store, good)
    const down = { ...at(s3), endpoint: `http://127.0.0.1:${await freePort()}` }
    const r = await restoreBackup([down, good], await freshDir())
    expect(r.skipped).toMatchObject([{ error: 'DestinationUnavailableError' }])
    const empty = at(s3)
    const err = await restoreBackup([down, empty], await freshDir()).then(() => null, (e: any) => e)
    expect(err?.name).toBe('RestoreFailedError')
    expect(err.attempts.map((x: any) => x.error)).toEqual(['DestinationUnavailableError', 'BackupNotFoundError'])
  })

  it('wrong credentials: DestinationAuthError, nothing written, and no secret in any error', async () => {
    const t = await source(4)
    process.env.CS_TEST_WRONG_ID = 'WRONG-KEY-ID-5d1c'
    process.env.CS_TEST_WRONG_SECRET = 'wrong-secret-value-77aa'
    const wrongS3 = at(s3, { accessKeyIdEnv: 'CS_TEST_WRONG_ID', secretAccessKeyEnv: 'CS_TEST_WRONG_SECRET' })
    const wrongKey = Buffer.alloc(64, 7).toString('base64')
    process.env.CS_TEST_WRONG_AZ = `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${wrongKey};BlobEndpoint=http://127.0.0.1:${azure.port}/devstoreaccount1;`
    const wrongAz = at(azure, { connectionStringEnv: 'CS_TEST_WRONG_AZ' })
    const secrets = [...s3.secrets, ...azure.secrets, 'WRONG-KEY-ID-5d1c', 'wrong-secret-value-77aa', wrongKey]
    try {
      for (const spec of [wrongS3, wrongAz]) {
        const err = await createBackup(t.store, spec).then(() => null, (e: Error) => e)
        expect(err?.name).toBe('DestinationAuthError')
        for (const s of secrets) expect(everything(err)).not.toContain(s)
        const readable = spec === wrongS3 ? { ...spec, accessKeyIdEnv: s3.spec('x').accessKeyIdEnv, secretAccessKeyEnv: s3.spec('x').secretAccessKeyEnv } : { ...spec, connectionStringEnv: azure.spec('x').connectionStringEnv }
        expect(await objects(readable)).toEqual([])
        const listed = await listBackups(spec).then(() => null, (e: Error) => e)
        expect(listed?.name).toBe('DestinationAuthError')
        for (const s of secrets) expect(everything(listed)).not.toContain(s)
      }
    } finally {
      for (const k of ['CS_TEST_WRONG_ID', 'CS_TEST_WRONG_SECRET', 'CS_TEST_WRONG_AZ']) Reflect.deleteProperty(process.env, k)
    }
  })

  it('a bucket or container that does not exist: DestinationNotFoundError (create, list, verify, restore)', async () => {
    const t = await source(3)
    for (const spec of [s3.spec('no-such-bucket'), azure.spec('no-such-container')]) {
      for (const run of [async () => await createBackup(t.store, spec), async () => await listBackups(spec), async () => await verifyBackup(spec), async () => await restoreBackup(spec, await freshDir())]) {
        const err = await run().then(() => null, (e: Error) => e)
        expect(err?.name).toBe('DestinationNotFoundError')
        expect(err?.message).toContain(spec.url)
      }
    }
  })

  it('typed errors for bad destinations: a malformed URL, credentials in a URL, options of another kind, a missing SDK', async () => {
    await expect(openDestination('ftp://host/x')).rejects.toMatchObject({ name: 'InvalidDestinationError' })
    await expect(openDestination('s3://B_ad')).rejects.toMatchObject({ name: 'InvalidDestinationError' })
    const withCreds = await openDestination('s3://AKIAXXXX:topsecret@bucket-a/x').then(() => null, (e: Error) => e)
    expect(withCreds?.name).toBe('InvalidDestinationError')
    expect(everything(withCreds)).not.toContain('topsecret')
    await expect(openDestination({ url: 'azure://container-a', endpoint: 'http://x' })).rejects.toMatchObject({ name: 'InvalidDestinationError' })
    await expect(openDestination({ url: 's3://bucket-a', accessKeyIdEnv: 'CS_TEST_UNSET_VAR', secretAccessKeyEnv: 'CS_TEST_UNSET_VAR' })).rejects.toMatchObject({ name: 'InvalidDestinationError' })
    const missing = await loadOptional(async () => await import('chainstore-no-such-sdk' as string), 'chainstore-no-such-sdk', 's3://bucket-a').then(() => null, (e: any) => e)
    expect(missing).toMatchObject({ name: 'DestinationPackageMissingError', packageName: 'chainstore-no-such-sdk' })
    expect(missing.message).toContain('npm install chainstore-no-such-sdk')
  })
})
