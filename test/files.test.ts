import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import type { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { equals } from 'uint8arrays/equals'
import type { ChainStore } from '../src/index.ts'
import { openTestStore } from './helpers/store.ts'

const KIB256 = 262_144
const MIB = 1_048_576

/** Deterministic bytes (xorshift32, low byte of each step); the reference CIDs below were computed over exactly these. */
function seededBytes (size: number, seed = 0x2545f491): Uint8Array {
  const out = new Uint8Array(size)
  let x = seed >>> 0
  for (let i = 0; i < size; i++) { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; out[i] = x & 0xff }
  return out
}

/**
 * Kubo's default `ipfs add` CIDs (CIDv0, 256 KiB chunks, 174 links, dag-pb
 * leaves) of seededBytes(size). Produced by writing each input to a file and
 * running Debian's `ipfs_cid` (package ipfs-cid: rust-ipfs-unixfs's adder,
 * Kubo's defaults), after checking it gives Kubo's published CIDs of the empty
 * file and of "hello world\n"; ipfs-unixfs-importer with its chunker and layout
 * built as in src/files/options.ts gave the same eight.
 */
const KUBO_V0: Array<[number, string]> = [
  [0, 'QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH'],
  [1, 'QmQQuBq3HaJoiQqVkQMHPUwwakJRwVV2XcPZssVkxFUKiF'],
  [KIB256 - 1, 'QmZ4YJFd7hnquiuuTnviYynCmQcEPFkKQTuTbhfwH7U4a7'],
  [KIB256, 'Qmbo6GDhJWNo1iuzGFMvDU69gE71NbPGWorGJjecWeL1q6'],
  [KIB256 + 1, 'QmZEKjCx7VzaH3CumjMWSdTWLy55g3zEC4aHYVWaN1bxi7'],
  [174 * KIB256, 'QmT41vxFn4Xg4emfucRNXuJU9jjnbm8CFV5cymMn7XUhPn'],
  [174 * KIB256 + 1, 'QmVQjctQ8qUDybSu2kYq1KUBSnqZmmGCFdrppRBirUnJvu'],
  [45 * MIB, 'QmRdBGHVRfvjL6HPj36bWxNjT25GNgXFHAJn1UCYwjyiLM']
]
/** The same tool's CIDv1 of the one-byte input: the CIDv0 DAG's root node under a v1 CID. */
const KUBO_V0_DAG_AS_V1_1_BYTE = 'bafybeia6zyiuak5ssccig2idtd2enjjuog6mscs2jujt6u3nybvh376nda'

let ctx: Awaited<ReturnType<typeof openTestStore>>
let store: ChainStore
beforeAll(async () => { ctx = await openTestStore(); store = ctx.store })
afterAll(async () => { await ctx?.cleanup() })

async function catAll (cid: CID | string): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  let length = 0
  for await (const p of store.cat(cid)) { parts.push(p); length += p.length }
  const out = new Uint8Array(length)
  let at = 0
  for (const p of parts) { out.set(p, at); at += p.length }
  return out
}

/** A dag-pb node of the store and its UnixFS data. */
async function node (cid: CID): Promise<{ links: CID[], unixfs: UnixFS }> {
  expect(cid.code, `${cid.toString()} is dag-pb`).toBe(dagPb.code)
  const pb = dagPb.decode(await store.getBytes(cid))
  return { links: pb.Links.map(l => l.Hash), unixfs: UnixFS.unmarshal(pb.Data!) }
}

async function digest (bytes: Uint8Array): Promise<Uint8Array> { return (await sha256.digest(bytes)).digest }

describe('addFile: Kubo-compatible CIDs with the unixfs-v0-2015 profile', () => {
  it('the empty file and "hello world\\n" get Kubo\'s published CIDv0', async () => {
    expect((await store.addFile(new Uint8Array(0), { profile: 'unixfs-v0-2015' })).toString()).toBe('QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH')
    const hello = new TextEncoder().encode('hello world\n')
    const cid = await store.addFile(hello, { profile: 'unixfs-v0-2015' })
    expect(cid.toString()).toBe('QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o')
    expect(await catAll(cid)).toEqual(hello)
  })

  it.each(KUBO_V0)('%i bytes: the reference CID, and cat gives the bytes back', async (size, expected) => {
    const bytes = seededBytes(size)
    const cid = await store.addFile(bytes, { profile: 'unixfs-v0-2015' })
    expect(cid.toString()).toBe(expected)
    expect(equals(await digest(await catAll(cid)), await digest(bytes))).toBe(true)
  }, 120_000)

  it('a stream in odd pieces gets the same CID as the bytes in one piece', async () => {
    const bytes = seededBytes(3 * KIB256 + 7)
    async function * pieces (): AsyncGenerator<Uint8Array> { for (let at = 0; at < bytes.length; at += 100_003) yield bytes.subarray(at, at + 100_003) }
    const cid = await store.addFile(pieces(), { profile: 'unixfs-v0-2015' })
    expect(cid.toString()).toBe((await store.addFile(bytes, { profile: 'unixfs-v0-2015' })).toString())
    expect(cid.version).toBe(0)
  })

  it('the explicit settings of the issue give the same CIDv0 as the profile', async () => {
    const cid = await store.addFile(seededBytes(KIB256 + 1), { cidVersion: 0, rawLeaves: false, chunkSize: 262144 })
    expect(cid.toString()).toBe('QmZEKjCx7VzaH3CumjMWSdTWLy55g3zEC4aHYVWaN1bxi7')
  })

  it('an explicit option overrides its profile\'s', async () => {
    const cid = await store.addFile(seededBytes(1), { profile: 'unixfs-v0-2015', cidVersion: 1 })
    expect(cid.toString()).toBe(KUBO_V0_DAG_AS_V1_1_BYTE)
  })

  it('174 chunks fit under one root of 256 KiB dag-pb leaves; one more byte adds a level', async () => {
    const v0 = { profile: 'unixfs-v0-2015' } as const
    const flat = await node(await store.addFile(seededBytes(174 * KIB256), v0))
    expect(flat.links).toHaveLength(174)
    expect(flat.unixfs.type).toBe('file')
    expect(flat.unixfs.blockSizes.every(s => s === BigInt(KIB256))).toBe(true)
    const leaf = await node(flat.links[0])
    expect(leaf.links).toHaveLength(0)
    expect(leaf.unixfs.type).toBe('file')
    expect(leaf.unixfs.data?.length).toBe(KIB256)

    const deep = await node(await store.addFile(seededBytes(174 * KIB256 + 1), v0))
    expect(deep.links).toHaveLength(2)
    const [full, rest] = await Promise.all(deep.links.map(node))
    expect(full.links).toHaveLength(174)
    expect(rest.links).toHaveLength(1)
    expect(deep.unixfs.fileSize()).toBe(BigInt(174 * KIB256 + 1))
  })
})

describe('addFile: the default profile and explicit settings', () => {
  it('without options: CIDv1, raw leaves of 1 MiB under a dag-pb root (unixfs-v1-2025)', async () => {
    const small = await store.addFile(seededBytes(1000))
    expect(small.version).toBe(1)
    expect(small.code).toBe(0x55)
    const bytes = seededBytes(MIB + 1)
    const cid = await store.addFile(bytes)
    expect(cid.toString()).toBe((await store.addFile(bytes, { profile: 'unixfs-v1-2025' })).toString())
    const root = await node(cid)
    expect(cid.version).toBe(1)
    expect(root.links.map(l => l.code)).toEqual([0x55, 0x55])
    expect(root.unixfs.blockSizes).toEqual([BigInt(MIB), 1n])
  })

  it('chunkSize, maxChildrenPerNode and rawLeaves shape the tree', async () => {
    const bytes = seededBytes(10 * 1024)
    const cid = await store.addFile(bytes, { chunkSize: 1024, maxChildrenPerNode: 3, rawLeaves: false })
    const root = await node(cid)
    expect(root.links.length).toBeLessThanOrEqual(3)
    let inner = root
    while (inner.links.length > 0 && inner.unixfs.data == null) inner = await node(inner.links[0])
    expect(inner.unixfs.data?.length).toBe(1024)
    expect(await catAll(cid)).toEqual(bytes)
  })

  it('the trickle layout builds another tree over the same leaves', async () => {
    const bytes = seededBytes(40 * 1024)
    const settings = { chunkSize: 1024, maxChildrenPerNode: 4 }
    const balanced = await store.addFile(bytes, { ...settings, layout: 'balanced' })
    const trickle = await store.addFile(bytes, { ...settings, layout: 'trickle' })
    expect(trickle.toString()).not.toBe(balanced.toString())
    expect(balanced.toString()).toBe((await store.addFile(bytes, settings)).toString())
    expect(await catAll(trickle)).toEqual(bytes)
  })
})

describe('addFile: options it does not know or cannot use', () => {
  it.each<[string, Record<string, unknown>, RegExp]>([
    ['an unknown key', { chunker: 'size-262144' }, /unknown option chunker \("size-262144"\)/],
    ['a misspelt key', { cidversion: 0 }, /unknown option cidversion \(0\)/],
    ['an unknown profile', { profile: 'kubo' }, /profile must be one of .*got "kubo"/],
    ['CID version 2', { cidVersion: 2 }, /cidVersion must be one of 0, 1, got 2/],
    ['a CID version as a string', { cidVersion: '0' }, /cidVersion .* got "0"/],
    ['rawLeaves not a boolean', { rawLeaves: 'yes' }, /rawLeaves must be a boolean, got "yes"/],
    ['a zero chunk', { chunkSize: 0 }, /chunkSize must be an integer from 1 to 1048576, got 0/],
    ['a fractional chunk', { chunkSize: 1.5 }, /chunkSize .* got 1.5/],
    ['a chunk over 1 MiB', { chunkSize: MIB + 1 }, /chunkSize .* got 1048577/],
    ['one child a node', { maxChildrenPerNode: 1 }, /maxChildrenPerNode must be an integer from 2 to 16384, got 1/],
    ['an unknown layout', { layout: 'flat' }, /layout must be one of "balanced", "trickle", got "flat"/],
    ['a signal that is not one', { signal: 'stop' }, /signal must be an AbortSignal/]
  ])('%s throws InvalidFileOptionsError naming it, and stores nothing', async (_, options, message) => {
    const bytes = seededBytes(5000, 7)
    const pinsBefore = await countPins()
    const err = await store.addFile(bytes, options as any).catch((e: Error) => e)
    expect(err).toBeInstanceOf(Error)
    expect((err as Error).name).toBe('InvalidFileOptionsError')
    expect((err as Error).message).toMatch(message)
    expect(await countPins()).toBe(pinsBefore)
  })

  it('an aborted signal stops the add before anything is stored', async () => {
    const pinsBefore = await countPins()
    const err = await store.addFile(seededBytes(5000, 9), { signal: AbortSignal.abort() }).catch((e: Error) => e)
    expect((err as Error).name).toBe('AbortError')
    expect(await countPins()).toBe(pinsBefore)
  })

  it('options that are not an object are refused too', async () => {
    const err = await store.addFile(new Uint8Array(1), null as any).catch((e: Error) => e)
    expect((err as Error).name).toBe('InvalidFileOptionsError')
  })

  it('a store with a smaller block limit caps chunkSize at it', async () => {
    const small = await ctx.reopen({ dataDir: `${ctx.dir}/small`, limits: { maxBlockBytes: 65_536 } })
    const err = await small.addFile(new Uint8Array(10), { chunkSize: 65_537 }).catch((e: Error) => e)
    expect((err as Error).name).toBe('InvalidFileOptionsError')
    expect((err as Error).message).toMatch(/from 1 to 65536, got 65537/)
    const cid = await small.addFile(seededBytes(70_000), { profile: 'unixfs-v0-2015' })
    const root = dagPb.decode(await small.getBytes(cid))
    expect(UnixFS.unmarshal(root.Data!).blockSizes).toEqual([65_536n, 4464n])
  })
})

describe('cat', () => {
  it('a file the store does not hold throws FileNotFoundError naming its CID', async () => {
    const absent = 'QmPZ9gcCEpqKTo6aq61g2nXGUhM4iCL3ewB6LDXZCtioEB' // a well-known CID nothing here added
    const err = await catAll(absent).catch((e: Error) => e)
    expect((err as Error).name).toBe('FileNotFoundError')
    expect((err as Error).message).toContain(absent)
  })
})

async function countPins (): Promise<number> {
  let n = 0
  for await (const _ of store.pins()) n++
  return n
}
