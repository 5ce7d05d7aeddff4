import { join } from 'node:path'
import * as dagCbor from '@ipld/dag-cbor'
import { Entry, Identities, KeyStore } from '@orbitdb/core'
import { multiaddr } from '@multiformats/multiaddr'
import { LevelBlockstore } from 'blockstore-level'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { base58btc } from 'multiformats/bases/base58'
import { afterEach, describe, expect, it } from 'vitest'
import { AccessManifestError, ChainstoreFollowerAccessController, encodeAccessManifest, entryRefusal, FollowerCannotCreateError, getIdentityOnce, readAccessManifest } from '../src/replication/orbitdb-access.ts'
import { stockHelia } from './helpers/stock-helia.ts'
import { tempDir } from './helpers/store.ts'

// The access-controller module stock OrbitDB apps register
// (`chainstore/orbitdb-access`): manifests read back from a real blockstore,
// typed errors, and the identity rules chainstore nodes apply.

describe('chainstore/orbitdb-access', () => {
  let cleanups: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const c of cleanups.reverse()) await c()
    cleanups = []
  })
  const blockstore = async (): Promise<LevelBlockstore> => {
    const { dir, cleanup } = await tempDir('chainstore-access-')
    const bs = new LevelBlockstore(join(dir, 'blocks'))
    await bs.open()
    cleanups.push(async () => { await bs.close(); await cleanup() })
    return bs
  }

  it('reads back the manifest a chainstore node stores, write list sorted; refuses foreign, non-dag-cbor and mismatched blocks with AccessManifestError', async () => {
    const bs = await blockstore()
    const m = await encodeAccessManifest(['w2', 'w1'], 'writers')
    await bs.put(m.cid, m.bytes)
    expect(m.address).toBe(`/chainstore/${m.cid.toString(base58btc)}`)
    expect(await readAccessManifest({ blockstore: bs }, m.address)).toEqual({ type: 'chainstore', write: ['w1', 'w2'], rule: 'writers' })

    // OrbitDB's own controller manifest: dag-cbor, but not chainstore's
    const foreign = dagCbor.encode({ type: 'ipfs', write: ['*'] })
    const foreignCid = CID.createV1(dagCbor.code, await sha256.digest(foreign))
    await bs.put(foreignCid, foreign)
    await expect(readAccessManifest({ blockstore: bs }, `/ipfs/${foreignCid.toString(base58btc)}`)).rejects.toMatchObject({ name: 'AccessManifestError', message: /not chainstore's/ })
    // bytes that are not dag-cbor under their own CID
    const junk = Uint8Array.from([0xff, 0x00])
    const junkCid = CID.createV1(dagCbor.code, await sha256.digest(junk))
    await bs.put(junkCid, junk)
    await expect(readAccessManifest({ blockstore: bs }, `/chainstore/${junkCid.toString(base58btc)}`)).rejects.toMatchObject({ name: 'AccessManifestError', message: /not dag-cbor/ })
    // a blockstore that hands back other bytes than the address names
    const other = await encodeAccessManifest(['someone-else'], 'writers')
    await bs.put(other.cid, m.bytes)
    await expect(readAccessManifest({ blockstore: bs }, other.address)).rejects.toMatchObject({ name: 'AccessManifestError', message: /do not hash/ })
    await expect(readAccessManifest({ blockstore: bs }, '/chainstore/not-a-cid')).rejects.toBeInstanceOf(AccessManifestError)
  })

  it('a follower opens chainstore databases by address only: creating one is FollowerCannotCreateError', async () => {
    const factory = ChainstoreFollowerAccessController()
    expect(factory.type).toBe('chainstore')
    const err = await factory({ orbitdb: { ipfs: { blockstore: await blockstore() } }, identities: {} }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(FollowerCannotCreateError)
    expect((err as Error).name).toBe('FollowerCannotCreateError')
  })

  it('applies the identity rules of chainstore nodes: key and clock tied to the identity, writers only, own keys only', () => {
    const identity = { id: 'writer-1', publicKey: 'pk-1' }
    const entry = (over: Record<string, unknown> = {}): Record<string, unknown> => ({ key: 'pk-1', clock: { id: 'pk-1', time: 1 }, payload: { op: 'PUT', key: 'writer-1/peer', value: 1 }, ...over })
    const writers = { write: ['writer-1'], rule: 'writers' as const }
    const ownKeys = { write: ['*'], rule: 'own-keys' as const }
    expect(entryRefusal(entry(), identity, writers)).toBeUndefined()
    expect(entryRefusal(entry({ key: 'pk-other' }), identity, writers)).toBe('forged-identity')
    expect(entryRefusal(entry({ clock: { id: 'pk-other', time: 1 } }), identity, writers)).toBe('forged-identity')
    expect(entryRefusal(entry(), { id: 'outsider', publicKey: 'pk-1' }, writers)).toBe('not-a-writer')
    expect(entryRefusal(entry(), identity, ownKeys)).toBeUndefined()
    expect(entryRefusal(entry({ payload: { op: 'PUT', key: 'writer-2/peer', value: 1 } }), identity, ownKeys)).toBe('foreign-key')
    expect(entryRefusal(entry({ payload: { op: 'PUT', key: 'writer-1', value: 1 } }), identity, ownKeys)).toBe('foreign-key')
  })

  it('databases opened together fetch a writer\'s identity block once: concurrent checks share one get, and a later one gets again', async () => {
    // two stock Helias on 127.0.0.1: the writer's holds its identity and the
    // manifests, the follower's fetches them over bitswap
    const { dir, cleanup } = await tempDir('chainstore-access-once-')
    cleanups.push(cleanup)
    const holder = await stockHelia(join(dir, 'holder'))
    cleanups.push(holder.stop)
    const follower = await stockHelia(join(dir, 'follower'))
    cleanups.push(follower.stop)
    await follower.helia.libp2p.dial(multiaddr(holder.helia.libp2p.getMultiaddrs()[0].toString()))

    const writerIds = await Identities({ ipfs: holder.helia, keystore: await KeyStore({ path: join(dir, 'writer-keys') }) })
    const writer = await writerIds.createIdentity({ id: 'writer' })
    const followerKeys = await KeyStore({ path: join(dir, 'follower-keys') })
    cleanups.push(async () => { await followerKeys.close() })
    const identities = await Identities({ ipfs: follower.helia, keystore: followerKeys })
    const writers = await encodeAccessManifest([writer.id], 'writers')
    const anyone = await encodeAccessManifest(['*'], 'own-keys')
    for (const m of [writers, anyone]) await holder.helia.blockstore.put(m.cid, m.bytes)

    // count the follower's gets of the identity block
    const identityCid = CID.parse(writer.hash, base58btc).toString()
    let gets = 0
    const get = follower.helia.blockstore.get.bind(follower.helia.blockstore)
    follower.helia.blockstore.get = (cid: CID, options: unknown) => { if (cid.toString() === identityCid) gets++; return get(cid, options) }

    const orbitdb = { ipfs: follower.helia, identity: { id: 'follower' } }
    const chain = await ChainstoreFollowerAccessController()({ orbitdb, identities, address: writers.address })
    const validators = await ChainstoreFollowerAccessController()({ orbitdb, identities, address: writers.address })
    const reputation = await ChainstoreFollowerAccessController()({ orbitdb, identities, address: anyone.address })
    const chainEntry = await Entry.create(writer, 'chain-log', { v: 1 })
    const validatorEntry = await Entry.create(writer, 'validators-log', { op: 'PUT', key: 'val-a', value: 1 })
    const reputationEntry = await Entry.create(writer, 'reputation-log', { op: 'PUT', key: `${writer.id}/peer`, value: 1 })
    const admitted = await Promise.all([chain.canAppend(chainEntry), validators.canAppend(validatorEntry), reputation.canAppend(reputationEntry)])
    expect(admitted).toEqual([true, true, true])
    expect(gets).toBe(1)

    // nothing is kept past the get (OrbitDB's own LRU caches identities): a later get goes to the identities again
    let calls = 0
    const counted = { getIdentity: async (hash: string) => { calls++; return await identities.getIdentity(hash) } }
    const [x, y] = await Promise.all([getIdentityOnce(counted, writer.hash), getIdentityOnce(counted, writer.hash)])
    expect(x).toBe(y)
    expect(x.id).toBe(writer.id)
    expect(calls).toBe(1)
    await getIdentityOnce(counted, writer.hash)
    expect(calls).toBe(2)
    // a failed get reaches every waiter and is not remembered
    const failing = { getIdentity: async () => { calls++; throw new Error('want aborted') } }
    const both = await Promise.allSettled([getIdentityOnce(failing, 'h'), getIdentityOnce(failing, 'h')])
    expect(both.map(r => r.status)).toEqual(['rejected', 'rejected'])
    expect(calls).toBe(3)
    await expect(getIdentityOnce(failing, 'h')).rejects.toThrow('want aborted')
    expect(calls).toBe(4)
  })
})
