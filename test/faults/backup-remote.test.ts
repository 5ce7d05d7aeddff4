/**
 * Object-storage servers killed mid-upload (issue 19): s3rver and Azurite
 * are SIGKILLed while a multipart upload of a backup is in flight (after a
 * set number of bytes went through, not after a time). The backup fails
 * with a typed error, nothing is listed, a destination beside it gets its
 * backup, and once the server is back the next run completes, verifies and
 * restores.
 */
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createBackups, listBackups, openDestination, pruneBackups, restoreBackup, verifyBackup, type BackupDestination, type DestinationSpec } from '../../src/backup/index.ts'
import { startAzurite, startS3rver, type ObjectServer } from '../helpers/object-servers.ts'
import { openTestStore, tempDir } from '../helpers/store.ts'

/** A destination that kills its server once `after` bytes of the named object went through. */
function killing (inner: BackupDestination, file: string, after: number, kill: () => Promise<void>): BackupDestination {
  return {
    name: inner.name,
    kind: inner.kind,
    list: (p, o) => inner.list(p, o),
    read: (k, o) => inner.read(k, o),
    delete: async (k, o) => { await inner.delete(k, o) },
    close: async () => { await inner.close() },
    write: async (key, body, o) => {
      if (!key.endsWith(file)) return await inner.write(key, body, o)
      let seen = 0
      let killed = false
      async function * tapped (): AsyncGenerator<Uint8Array> {
        for await (const c of body) {
          seen += c.length
          if (!killed && seen >= after) { killed = true; await kill() }
          yield c
        }
      }
      return await inner.write(key, tapped(), o)
    }
  }
}

let s3: ObjectServer
let azure: ObjectServer
beforeAll(async () => { [s3, azure] = await Promise.all([startS3rver(), startAzurite()]) })
afterAll(async () => { await Promise.all([s3?.stop(), azure?.stop()]) })

describe('backups: object storage killed mid-upload', () => {
  for (const which of ['s3', 'azure'] as const) {
    it(`${which}: killed during a multipart upload: typed error, no backup listed, the other destination has its backup, the next run completes`, async () => {
      const server = which === 's3' ? s3 : azure
      const t = await openTestStore()
      const local = await tempDir('chainstore-bk-')
      try {
        await t.store.storeBlocks(t.chain.take(10, t.store.config.limits))
        // 24 MB of incompressible blob: pins.car goes up in five 5 MiB parts
        await t.store.addFile(randomBytes(24 << 20))
        const spec: DestinationSpec = server.spec('chainstore-bk', `kill-${which}`)
        const inner = await openDestination(spec)
        const dest = killing(inner, 'pins.car', 12 << 20, async () => { await server.kill() })
        const beside = join(local.dir, 'bk')
        const [cut, other] = await createBackups(t.store, [dest, beside])
        expect(cut.error?.name).toBe('DestinationUnavailableError')
        expect(cut.error?.message).toContain(spec.url)
        expect(other.result?.manifest.kind).toBe('full')
        await server.restart()
        expect(await listBackups(spec)).toEqual([])
        // the next run completes, verifies and restores
        const [again] = await createBackups(t.store, [spec])
        expect(again.error).toBeUndefined()
        expect((await listBackups(spec)).map(b => b.id)).toEqual([again.result!.id])
        expect((await verifyBackup(spec)).backups.length).toBe(1)
        const r = await restoreBackup(spec, join(local.dir, 'restored'))
        expect(r.head?.height).toBe(9)
        // what the cut upload left (objects of an id with no manifest) goes with retention
        const pruned = await pruneBackups(spec, 1)
        expect(pruned.deleted).toEqual([])
        // s3rver keeps the chain.car that went up before the kill; Azurite loses blobs committed in the last
        // moments before a SIGKILL (its metadata is saved on a timer), so there may be nothing left to clear
        expect(pruned.orphans.length).toBe(which === 's3' ? 1 : pruned.orphans.length)
        expect(await listBackups(spec).then(l => l.length)).toBe(1)
        await inner.close()
      } finally {
        await t.cleanup()
        await local.cleanup()
      }
    })
  }
})
