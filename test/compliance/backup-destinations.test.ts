import { afterAll, beforeAll } from 'vitest'
import { openDestination, type BackupDestination } from '../../src/backup/index.ts'
import { startAzurite, startS3rver, type ObjectServer } from '../helpers/object-servers.ts'
import { tempDir } from '../helpers/store.ts'
import { backupDestinationTests } from './backup-destination.ts'

let s3: ObjectServer
let azure: ObjectServer
beforeAll(async () => { [s3, azure] = await Promise.all([startS3rver(), startAzurite()]) })
afterAll(async () => { await Promise.all([s3?.stop(), azure?.stop()]) })

let n = 0
let cleanup: (() => Promise<void>) | undefined
let opened: BackupDestination | undefined

backupDestinationTests('local directory', {
  setup: async () => {
    const t = await tempDir('chainstore-dest-')
    cleanup = t.cleanup
    opened = await openDestination(`${t.dir}/backups`)
    await opened.prepare?.()
    return opened
  },
  teardown: async () => { await opened?.close(); await cleanup?.() }
})

// each case under its own prefix: the bucket is shared
backupDestinationTests('S3 (s3rver)', {
  setup: async () => (opened = await openDestination(s3.spec('chainstore-bk', `case-${++n}`))),
  teardown: async () => { await opened?.close() }
})

backupDestinationTests('Azure Blob (Azurite)', {
  setup: async () => (opened = await openDestination(azure.spec('chainstore-bk', `case-${++n}`))),
  teardown: async () => { await opened?.close() }
})
