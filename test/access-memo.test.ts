import { join } from 'node:path'
import { Entry, Identities, KeyStore } from '@orbitdb/core'
import { afterEach, describe, expect, it } from 'vitest'
import { ChainstoreAccessController, type Rejection } from '../src/replication/access.ts'
import { createLogger } from '../src/logger.ts'
import { tempDir } from './helpers/store.ts'

// OrbitDB asks the access controller again for every entry a join passes
// (the new one and each of its `next` and `refs`): the controller remembers
// entries it accepted, by the hash OrbitDB computes from their bytes, and
// checks everything else every time.

describe('ChainstoreAccessController', () => {
  let cleanups: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const c of cleanups.reverse()) await c()
    cleanups = []
  })

  it('accepts an entry by its hash once checked; entries without a hash and refused entries are checked every time', async () => {
    const { dir, cleanup } = await tempDir('chainstore-access-memo-')
    cleanups.push(cleanup)
    const keystore = await KeyStore({ path: join(dir, 'keys') })
    cleanups.push(async () => { await keystore.close() })
    const identities = await Identities({ keystore })
    const writer = await identities.createIdentity({ id: 'writer' })
    const outsider = await identities.createIdentity({ id: 'outsider' })

    let payloadChecks = 0
    const rejections: Rejection[] = []
    const factory = ChainstoreAccessController({
      write: [writer.id],
      rule: 'writers',
      database: 'chain',
      checkPayload: p => { payloadChecks++; return (p as any)?.ok === true ? undefined : 'not ok' },
      onReject: r => rejections.push(r),
      logger: createLogger({ level: 'silent' })
    })
    const access = await factory({ orbitdb: {}, identities, address: '/chainstore/test' })

    // as OrbitDB hands entries to a join: decoded from their bytes, hash included
    const joined = async (identity: any, payload: unknown): Promise<any> => await Entry.decode((await Entry.encode(await Entry.create(identity, 'log', payload))).bytes)

    // a local append asks before the entry has a hash
    const local = await Entry.create(writer, 'log', { ok: true })
    expect(local.hash).toBeUndefined()
    expect(await access.canAppend(local)).toBe(true)
    expect(await access.canAppend(local)).toBe(true)
    expect(payloadChecks).toBe(2)

    const good = await joined(writer, { ok: true })
    expect(typeof good.hash).toBe('string')
    for (let i = 0; i < 5; i++) expect(await access.canAppend(good)).toBe(true)
    expect(payloadChecks).toBe(3)

    // another entry of the same writer is a new hash: checked
    expect(await access.canAppend(await joined(writer, { ok: true, n: 2 }))).toBe(true)
    expect(payloadChecks).toBe(4)

    // refused entries are not remembered: each ask is checked and reported
    const badPayload = await joined(writer, { ok: false })
    expect(await access.canAppend(badPayload)).toBe(false)
    expect(await access.canAppend(badPayload)).toBe(false)
    expect(payloadChecks).toBe(6)
    const foreign = await joined(outsider, { ok: true })
    expect(await access.canAppend(foreign)).toBe(false)
    expect(await access.canAppend(foreign)).toBe(false)
    expect(rejections.map(r => r.reason)).toEqual(['bad-payload', 'bad-payload', 'not-a-writer', 'not-a-writer'])
    expect(rejections[0].hash).toBe(badPayload.hash)

    // an accepted hash does not vouch for other bytes under a name it did not earn
    const forged = { ...foreign, hash: 'not-the-hash-of-these-bytes' }
    expect(await access.canAppend(forged)).toBe(false)
  })
})
