/**
 * The trustless gateway's SHOULDs and MAYs (src/gateway): Content-Location
 * for a format chosen by Accept, entity-bytes ranges over UnixFS files,
 * dag-scope=entity on non-UnixFS data, car-version in the query,
 * Cache-Control: only-if-cached, CIDs in every multibase; read back with
 * clients that are not ours (@helia/unixfs reading the byte ranges out of
 * our CARs, @helia/verified-fetch sending only-if-cached).
 */
import { unixfs } from '@helia/unixfs'
import { createVerifiedFetchWithHelia } from '@helia/verified-fetch'
import { CarReader } from '@ipld/car'
import * as dagCbor from '@ipld/dag-cbor'
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import { bases } from 'multiformats/basics'
import { CID } from 'multiformats/cid'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startReadApi, type ReadApi } from '../src/api/server.ts'
import { bytesMatchCid, cidOf, RAW } from '../src/codec/cid.ts'
import type { ChainStore, StoredBlock } from '../src/index.ts'
import { closeTestGateways, testGateway } from './helpers/gateway.ts'
import { heliaThroughGateway } from './helpers/helia-client.ts'
import { openTestStore, quietLogger } from './helpers/store.ts'

let ctx: Awaited<ReturnType<typeof openTestStore>>
let store: ChainStore
let api: ReadApi
let chain: StoredBlock[]
let upstream: Awaited<ReturnType<typeof testGateway>>

const rawBytes = new TextEncoder().encode('hello from a chainstore gateway')
let rawCid: CID
/** A block this node does not hold, which the gateway tier (`upstream`) does. */
const absentBytes = new TextEncoder().encode('only the upstream gateway has this')
const absentCid = cidOf(absentBytes, RAW)
/** A dag-cbor block (not a chain header) linking to the raw block. */
let cborCid: CID
/** A dag-cbor block linking to `absentCid`: held here, its DAG not. */
let brokenCid: CID
/** A file from addFile: a dag-pb root over raw leaves. */
const bigBytes = new Uint8Array(2_500_000).map((_, i) => (i * 31 + 7) % 251)
let bigCid: CID
let emptyCid: CID

/**
 * A two-level UnixFS file built by hand: a root over three children A, B, A
 * (A twice: the same block under two spans), each of four 100-byte raw
 * leaves. Offsets: A 0-399 (L0 0-99, L1 100-199, L2 200-299, L3 300-399),
 * B 400-799 (L4-L7), A again 800-1199.
 */
const crafted = {} as { root: CID, A: CID, B: CID, L: CID[], bytes: Uint8Array }
/** A root with 7 bytes of its own ('HEADER:', offsets 0-6) before L0 (7-106) and L1 (107-206). */
let withData: CID

/** Every address any fetch in this file went to, and what it answered. */
const contacted: Array<{ url: string, status: number, cacheControl: string | null }> = []
const realFetch = globalThis.fetch

async function putBlock (cid: CID, bytes: Uint8Array): Promise<void> {
  await store.helia.blockstore.put(cid, bytes)
}

async function fileNode (data: Uint8Array | undefined, children: Array<{ cid: CID, size: number }>): Promise<{ cid: CID, bytes: Uint8Array }> {
  const fs = new UnixFS({ type: 'file', data, blockSizes: children.map(c => BigInt(c.size)) })
  const bytes = dagPb.encode(dagPb.prepare({ Data: fs.marshal(), Links: children.map(c => ({ Hash: c.cid, Tsize: c.size })) }))
  const cid = cidOf(bytes, dagPb.code)
  await putBlock(cid, bytes)
  return { cid, bytes }
}

beforeAll(async () => {
  globalThis.fetch = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input))
    if (url.hostname !== '127.0.0.1') throw new Error(`test tried to contact ${url.host}`)
    const res = await realFetch(input, init)
    contacted.push({ url: url.toString(), status: res.status, cacheControl: new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined)).get('cache-control') })
    return res
  }
  upstream = await testGateway('honest', new Map([[absentCid.toString(), absentBytes]]))
  ctx = await openTestStore({ gateways: { enabled: true, urls: [upstream.url], timeoutMs: 2_000, stallMs: 1_000 } })
  store = ctx.store
  chain = await store.storeBlocks(ctx.chain.take(2, store.config.limits))
  rawCid = await store.putBytes(rawBytes, { codec: 'raw' })
  cborCid = await store.putBytes(dagCbor.encode({ note: 'not a chain header', link: rawCid }), { codec: 'dag-cbor' })
  brokenCid = await store.putBytes(dagCbor.encode({ link: absentCid }), { codec: 'dag-cbor' })
  bigCid = await store.addFile(bigBytes)
  emptyCid = await store.addFile(new Uint8Array(0))

  const leaves = Array.from({ length: 8 }, (_, i) => new Uint8Array(100).fill(i + 1))
  crafted.L = []
  for (const leaf of leaves) { const cid = cidOf(leaf, RAW); await putBlock(cid, leaf); crafted.L.push(cid) }
  const A = await fileNode(undefined, crafted.L.slice(0, 4).map(cid => ({ cid, size: 100 })))
  const B = await fileNode(undefined, crafted.L.slice(4, 8).map(cid => ({ cid, size: 100 })))
  const root = await fileNode(undefined, [A, B, A].map(n => ({ cid: n.cid, size: 400 })))
  crafted.A = A.cid
  crafted.B = B.cid
  crafted.root = root.cid
  crafted.bytes = new Uint8Array(Buffer.concat([...leaves.slice(0, 4), ...leaves.slice(4), ...leaves.slice(0, 4)]))
  withData = (await fileNode(new TextEncoder().encode('HEADER:'), crafted.L.slice(0, 2).map(cid => ({ cid, size: 100 })))).cid

  api = await startReadApi(store, { host: '127.0.0.1', port: 0, logger: quietLogger })
}, 60_000)

afterAll(async () => {
  await api?.close()
  await ctx?.cleanup()
  await closeTestGateways()
  globalThis.fetch = realFetch
})

const get = async (path: string, init: RequestInit = {}): Promise<Response> => await realFetch(api.url + path, init)
const hdrs = (res: Response): Record<string, string> => Object.fromEntries([...res.headers.entries()].filter(([k]) => k !== 'date' && k !== 'connection' && k !== 'keep-alive'))

async function carBlocks (res: Response): Promise<{ cids: string[], blocks: Map<string, Uint8Array>, version: number, roots: string[] }> {
  const reader = await CarReader.fromBytes(new Uint8Array(await res.arrayBuffer()))
  const cids: string[] = []
  const blocks = new Map<string, Uint8Array>()
  for await (const b of reader.blocks()) {
    expect(bytesMatchCid(b.cid, b.bytes)).toBe(true)
    cids.push(b.cid.toString())
    blocks.set(b.cid.multihash.bytes.toString(), b.bytes)
  }
  return { cids, blocks, version: reader.version, roots: (await reader.getRoots()).map(String) }
}

/** GET and HEAD of one URL: the same status and headers, HEAD without a body. */
async function getAndHead (path: string, init: RequestInit = {}): Promise<Response> {
  const res = await get(path, init)
  const head = await get(path, { ...init, method: 'HEAD' })
  expect(head.status, `HEAD ${path}`).toBe(res.status)
  expect(hdrs(head), `HEAD ${path}`).toEqual(hdrs(res))
  expect((await head.arrayBuffer()).byteLength).toBe(0)
  return res
}

/**
 * Bytes `from..to` (inclusive) of a file read by @helia/unixfs from the CAR's
 * blocks alone: a block the CAR lacks is an error, so this proves the CAR
 * holds what a reader of that range needs.
 */
async function readRange (file: CID, blocks: Map<string, Uint8Array>, from: number, to: number): Promise<Uint8Array> {
  const blockstore = {
    * get (cid: CID) {
      const bytes = blocks.get(cid.multihash.bytes.toString())
      if (bytes == null) throw new Error(`the CAR lacks ${cid.toString()}`)
      yield bytes
    },
    has: (cid: CID) => blocks.has(cid.multihash.bytes.toString()),
    put: () => { throw new Error('read only') }
  }
  const parts: Uint8Array[] = []
  for await (const chunk of unixfs({ blockstore } as any).cat(file, { offset: from, length: to - from + 1 })) parts.push(chunk)
  return new Uint8Array(Buffer.concat(parts))
}

describe('Content-Location for a format chosen by Accept', () => {
  it('raw by Accept → Content-Location /ipfs/{cid}?format=raw, on GET, HEAD and 304; none with ?format=', async () => {
    const res = await getAndHead(`/ipfs/${rawCid.toString()}`, { headers: { accept: 'application/vnd.ipld.raw' } })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-location')).toBe(`/ipfs/${rawCid.toString()}?format=raw`)
    const cached = await get(`/ipfs/${rawCid.toString()}`, { headers: { accept: 'application/vnd.ipld.raw', 'if-none-match': res.headers.get('etag')! } })
    expect(cached.status).toBe(304)
    expect(cached.headers.get('content-location')).toBe(`/ipfs/${rawCid.toString()}?format=raw`)
    // the named URL gives the same answer to a client that sends no Accept
    const there = await get(res.headers.get('content-location')!)
    expect(there.headers.get('etag')).toBe(res.headers.get('etag'))
    expect(Buffer.from(await there.arrayBuffer()).equals(Buffer.from(await res.arrayBuffer()))).toBe(true)
    expect(there.headers.get('content-location')).toBeNull()
    expect((await get(`/ipfs/${rawCid.toString()}?format=raw`, { headers: { accept: 'application/vnd.ipld.car' } })).headers.get('content-location')).toBeNull()
  })

  it('car by Accept → ?format=car, keeping the query and naming the CAR parameters Accept gave (as served)', async () => {
    const cid = chain[1].cid.toString()
    const plain = await getAndHead(`/ipfs/${cid}`, { headers: { accept: 'application/vnd.ipld.car' } })
    expect(plain.headers.get('content-location')).toBe(`/ipfs/${cid}?format=car`)
    const full = await getAndHead(`/ipfs/${cid}?dag-scope=block`, { headers: { accept: 'application/vnd.ipld.car; version=1; order=dfs; dups=y, application/vnd.ipld.raw; q=0.5' } })
    expect(full.status).toBe(200)
    expect(full.headers.get('content-type')).toBe('application/vnd.ipld.car; version=1; order=dfs; dups=n')
    expect(full.headers.get('content-location')).toBe(`/ipfs/${cid}?dag-scope=block&format=car&car-version=1&car-order=dfs&car-dups=n`)
    const there = await get(full.headers.get('content-location')!)
    expect(there.headers.get('etag')).toBe(full.headers.get('etag'))
    expect(Buffer.from(await there.arrayBuffer()).equals(Buffer.from(await full.arrayBuffer()))).toBe(true)
  })
})

describe('entity-bytes on UnixFS files', () => {
  const name = (cid: string): string => {
    if (cid === crafted.root.toString()) return 'root'
    if (cid === crafted.A.toString()) return 'A'
    if (cid === crafted.B.toString()) return 'B'
    const i = crafted.L.findIndex(l => l.toString() === cid)
    return i >= 0 ? `L${i}` : cid
  }
  const cases: Array<[string, string[]]> = [
    ['0:99', ['root', 'A', 'L0']], // inclusive: byte 99 is L0's last
    ['0:100', ['root', 'A', 'L0', 'L1']],
    ['150:450', ['root', 'A', 'L1', 'L2', 'L3', 'B', 'L4']],
    ['850:950', ['root', 'A', 'L0', 'L1']], // the second A
    // A under two spans: first for L3 alone, then (already sent) for L0-L2
    ['393:1003', ['root', 'A', 'L3', 'B', 'L4', 'L5', 'L6', 'L7', 'L0', 'L1', 'L2']],
    ['-100:*', ['root', 'A', 'L3']], // the last 100 bytes: 1100-1199
    ['-150:-101', ['root', 'A', 'L2']], // 1050-1099
    ['499:-700', ['root', 'B', 'L4', 'L5']], // 499-500
    ['1190:5000', ['root', 'A', 'L3']], // partly past the end: the bytes that exist
    ['-5000:10', ['root', 'A', 'L0']] // partly before the start
  ]

  it('sends only the blocks on the way to the requested bytes (inclusive offsets, * and negatives), and @helia/unixfs reads the range from them', async () => {
    const size = crafted.bytes.length
    for (const [range, expected] of cases) {
      const path = `/ipfs/${crafted.root.toString()}?format=car&dag-scope=entity&entity-bytes=${range}`
      const res = await getAndHead(path)
      expect(res.status, range).toBe(200)
      expect(res.headers.get('etag'), range).toBe(`"${crafted.root.toString()}.car.entity.bytes=${range}.dfs.n"`)
      const { cids, blocks, roots } = await carBlocks(res)
      expect(roots, range).toEqual([crafted.root.toString()])
      expect(cids.map(name), range).toEqual(expected)
      const [a, b] = range.split(':')
      const from = Number(a) < 0 ? Math.max(size + Number(a), 0) : Number(a)
      const to = b === '*' ? size - 1 : Number(b) < 0 ? size + Number(b) : Math.min(Number(b), size - 1)
      // @helia/unixfs (ipfs-unixfs-exporter 16) also asks for the child whose first byte
      // is the one just past the range, which the range does not need: skip those ends
      if ((to + 1) % 100 === 0 && to + 1 < size) continue
      expect(Buffer.from(await readRange(crafted.root, blocks, from, to)).equals(Buffer.from(crafted.bytes.subarray(from, to + 1))), range).toBe(true)
    }
  })

  it("a node's own bytes come before its children's", async () => {
    const names = new Map([[withData.toString(), 'root'], [crafted.L[0].toString(), 'L0'], [crafted.L[1].toString(), 'L1']])
    // (not read back with @helia/unixfs: ipfs-unixfs-exporter 16 skips a node's own bytes without counting them when the range starts after them)
    for (const [range, expected] of [['0:6', ['root']], ['6:7', ['root', 'L0']], ['7:106', ['root', 'L0']], ['107:*', ['root', 'L1']], ['-101:-100', ['root', 'L0', 'L1']]] as const) {
      const { cids } = await carBlocks(await get(`/ipfs/${withData.toString()}?format=car&entity-bytes=${range}`))
      expect(cids.map(c => names.get(c)), range).toEqual(expected)
    }
    expect((await get(`/ipfs/${withData.toString()}?format=car&entity-bytes=207:*`)).status).toBe(400)
  })

  it('a file from addFile: a few bytes → the root and one leaf; @helia/unixfs reads them', async () => {
    const node = dagPb.decode(store.localBytes(bigCid)!)
    const sizes = UnixFS.unmarshal(node.Data!).blockSizes.map(Number)
    expect(node.Links.length).toBeGreaterThan(2)
    const starts = sizes.map((_, i) => sizes.slice(0, i).reduce((n, s) => n + s, 0))
    const leafAt = (offset: number): string => node.Links[starts.findLastIndex(s => s <= offset)].Hash.toString()
    for (const [from, to] of [[0, 99], [starts[1] - 10, starts[1] + 10], [bigBytes.length - 100, bigBytes.length - 1]]) {
      const res = await get(`/ipfs/${bigCid.toString()}?format=car&dag-scope=entity&entity-bytes=${from}:${to}`)
      const { cids, blocks } = await carBlocks(res)
      expect(cids).toEqual([...new Set([bigCid.toString(), leafAt(from), leafAt(to)])])
      expect(Buffer.from(await readRange(bigCid, blocks, from, to)).equals(Buffer.from(bigBytes.subarray(from, to + 1)))).toBe(true)
    }
  })

  it('0:* is the whole file (its own Etag); entity-bytes alone implies dag-scope=entity; with block or all it narrows nothing', async () => {
    const whole = await carBlocks(await get(`/ipfs/${crafted.root.toString()}?format=car&dag-scope=entity`))
    expect(whole.cids.map(name)).toEqual(['root', 'A', 'L0', 'L1', 'L2', 'L3', 'B', 'L4', 'L5', 'L6', 'L7'])
    const star = await get(`/ipfs/${crafted.root.toString()}?format=car&dag-scope=entity&entity-bytes=0:*`)
    expect(star.headers.get('etag')).toBe(`"${crafted.root.toString()}.car.entity.bytes=0:*.dfs.n"`)
    expect((await carBlocks(star)).cids).toEqual(whole.cids)
    const implied = await get(`/ipfs/${crafted.root.toString()}?format=car&entity-bytes=0:7`)
    expect(implied.headers.get('etag')).toBe(`"${crafted.root.toString()}.car.entity.bytes=0:7.dfs.n"`)
    expect((await carBlocks(implied)).cids.map(name)).toEqual(['root', 'A', 'L0'])
    expect((await carBlocks(await get(`/ipfs/${crafted.root.toString()}?format=car&dag-scope=all&entity-bytes=0:7`))).cids).toEqual(whole.cids)
    expect((await carBlocks(await get(`/ipfs/${crafted.root.toString()}?format=car&dag-scope=block&entity-bytes=0:7`))).cids.map(name)).toEqual(['root'])
    // Accept instead of ?format=, and a 304 for the range's own Etag
    const byAccept = await get(`/ipfs/${crafted.root.toString()}?entity-bytes=0:7`, { headers: { accept: 'application/vnd.ipld.car' } })
    expect(byAccept.headers.get('content-location')).toBe(`/ipfs/${crafted.root.toString()}?entity-bytes=0%3A7&format=car`)
    expect((await get(`/ipfs/${crafted.root.toString()}?format=car&entity-bytes=0:7`, { headers: { 'if-none-match': implied.headers.get('etag')! } })).status).toBe(304)
  })

  it('a raw block is a one-block file; an empty file has no byte to select but is whole with 0:*', async () => {
    const raw = await carBlocks(await get(`/ipfs/${rawCid.toString()}?format=car&entity-bytes=0:3`))
    expect(raw.cids).toEqual([rawCid.toString()])
    expect((await get(`/ipfs/${rawCid.toString()}?format=car&entity-bytes=${rawBytes.length}:*`)).status).toBe(400)
    for (const range of ['0:*', '-10:*']) {
      const res = await get(`/ipfs/${emptyCid.toString()}?format=car&entity-bytes=${range}`)
      expect(res.status, range).toBe(200)
      expect((await carBlocks(res)).cids[0]).toBe(emptyCid.toString())
    }
    expect((await get(`/ipfs/${emptyCid.toString()}?format=car&entity-bytes=0:0`)).status).toBe(400)
  })

  it('on data that is not a run of bytes (dag-cbor) the range is ignored: dag-scope=entity, the block alone', async () => {
    const res = await get(`/ipfs/${cborCid.toString()}?format=car&dag-scope=entity&entity-bytes=0:10`)
    expect(res.status).toBe(200)
    expect((await carBlocks(res)).cids).toEqual([cborCid.toString()])
  })

  it('400 for a malformed range and for one with no byte of the file (GET and HEAD); ignored on raw requests', async () => {
    const bad = ['', '5', '1:', ':5', '1:2:3', '1.5:2', 'a:b', '0x1:2', '*:5', '5:4', '-5:-10', '99999999999999999999:*', '1200:*', '2000:3000', '10:-1195', '-1:-1300']
    for (const range of bad) {
      for (const method of ['GET', 'HEAD']) {
        const res = await get(`/ipfs/${crafted.root.toString()}?format=car&dag-scope=entity&entity-bytes=${encodeURIComponent(range)}`, { method })
        expect(res.status, `${method} ${range}`).toBe(400)
        if (method === 'GET') expect(((await res.json()) as { error: string }).error, range).toBe('InvalidEntityBytes')
      }
    }
    expect((await get(`/ipfs/${rawCid.toString()}?format=raw&entity-bytes=nonsense`)).status).toBe(200)
  })
})

describe('dag-scope=entity on non-UnixFS data', () => {
  it('a dag-cbor block and a raw block: the block alone (spec: entity is block), where all follows the links', async () => {
    const entity = await getAndHead(`/ipfs/${cborCid.toString()}?format=car&dag-scope=entity`)
    expect((await carBlocks(entity)).cids).toEqual([cborCid.toString()])
    expect((await carBlocks(await get(`/ipfs/${cborCid.toString()}?format=car&dag-scope=all`))).cids).toEqual([cborCid.toString(), rawCid.toString()])
    const header = chain[1].cid
    expect((await carBlocks(await get(`/ipfs/${header.toString()}?format=car&dag-scope=entity`))).cids).toEqual([header.toString()])
    expect((await carBlocks(await get(`/ipfs/${rawCid.toString()}?format=car&dag-scope=entity`))).cids).toEqual([rawCid.toString()])
    // held root, missing link: entity does not need the link, all does
    expect((await get(`/ipfs/${brokenCid.toString()}?format=car&dag-scope=entity`)).status).toBe(200)
    expect((await get(`/ipfs/${brokenCid.toString()}?format=car&dag-scope=all`)).status).toBe(404)
  })
})

describe('car-version in the query, as version in Accept', () => {
  it('car-version=2 is 406 like Accept version=2 (GET and HEAD); car-version=1 is a CARv1', async () => {
    const cid = chain[0].cid.toString()
    for (const method of ['GET', 'HEAD']) {
      expect((await get(`/ipfs/${cid}?format=car&car-version=2`, { method })).status, method).toBe(406)
      expect((await get(`/ipfs/${cid}`, { method, headers: { accept: 'application/vnd.ipld.car; version=2' } })).status, method).toBe(406)
      expect((await get(`/ipfs/${cid}?car-version=2`, { method, headers: { accept: 'application/vnd.ipld.car' } })).status, method).toBe(406)
      expect((await get(`/ipfs/${cid}?format=car&car-version=x`, { method })).status, method).toBe(406)
    }
    const v1 = await getAndHead(`/ipfs/${cid}?format=car&car-version=1&dag-scope=block`)
    expect(v1.status).toBe(200)
    expect(v1.headers.get('content-type')).toBe('application/vnd.ipld.car; version=1; order=dfs; dups=n')
    expect((await carBlocks(v1)).version).toBe(1)
  })

  it('the query wins over Accept: version=2 in Accept with car-version=1 is a CARv1; car-version means nothing to a raw request', async () => {
    const cid = chain[0].cid.toString()
    const res = await getAndHead(`/ipfs/${cid}?car-version=1&dag-scope=block`, { headers: { accept: 'application/vnd.ipld.car; version=2' } })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-location')).toBe(`/ipfs/${cid}?car-version=1&dag-scope=block&format=car`)
    expect((await carBlocks(res)).version).toBe(1)
    expect((await get(`/ipfs/${cid}?format=raw&car-version=2`)).status).toBe(200)
  })
})

describe('Cache-Control: only-if-cached', () => {
  const only = { 'cache-control': 'only-if-cached' }

  it('a held block: 200 as usual (raw and CAR, GET and HEAD)', async () => {
    const raw = await getAndHead(`/ipfs/${rawCid.toString()}?format=raw`, { headers: only })
    expect(raw.status).toBe(200)
    expect(Buffer.from(await raw.arrayBuffer()).equals(Buffer.from(rawBytes))).toBe(true)
    expect((await getAndHead(`/ipfs/${chain[1].cid.toString()}?format=car`, { headers: { 'cache-control': 'max-age=0, Only-If-Cached' } })).status).toBe(200)
  })

  it('a block not held: 412 with no body, and nobody asked (404 without the header); a DAG missing a block here: 412', async () => {
    const hits = upstream.hits()
    for (const q of ['format=raw', 'format=car', 'format=car&dag-scope=block']) {
      for (const method of ['GET', 'HEAD']) {
        const res = await get(`/ipfs/${absentCid.toString()}?${q}`, { method, headers: only })
        expect(res.status, `${method} ?${q}`).toBe(412)
        expect((await res.arrayBuffer()).byteLength).toBe(0)
        expect((await get(`/ipfs/${absentCid.toString()}?${q}`, { method })).status, `${method} ?${q}`).toBe(404)
      }
    }
    expect((await get(`/ipfs/${brokenCid.toString()}?format=car`, { headers: only })).status).toBe(412)
    expect((await get(`/ipfs/${brokenCid.toString()}?format=car`)).status).toBe(404)
    expect(upstream.hits()).toBe(hits)
    expect(store.localBytes(absentCid)).toBeUndefined()
    // the node's gateway tier could have fetched it: the HTTP gateway chose not to
    expect(Buffer.from(await store.getBytes(absentCid)).equals(Buffer.from(absentBytes))).toBe(true)
    expect(upstream.hits()).toBe(hits + 1)
  })
})

describe('CIDs in every multibase', () => {
  // identity (\0) is left out: it carries bytes as UTF-8 text, which a CID's bytes are not
  const names = Object.keys(bases).filter(n => n !== 'identity') as Array<Exclude<keyof typeof bases, 'identity'>>

  it(`a block by its CID in ${names.length} multibases (base32, base36, base58btc, base64url, base16, base256emoji...)`, async () => {
    expect(names).toEqual(expect.arrayContaining(['base32', 'base36', 'base58btc', 'base64url', 'base16', 'base64', 'base2', 'base256emoji']))
    for (const n of names) {
      const text = rawCid.toString(bases[n])
      const res = await getAndHead(`/ipfs/${encodeURIComponent(text)}?format=raw`)
      expect(res.status, `${n} ${text}`).toBe(200)
      expect(res.headers.get('x-ipfs-roots'), n).toBe(rawCid.toString())
      expect(Buffer.from(await res.arrayBuffer()).equals(Buffer.from(rawBytes)), n).toBe(true)
    }
    const car = await get(`/ipfs/${rawCid.toString(bases.base64url)}?format=car`)
    expect(car.status).toBe(200)
    expect((await carBlocks(car)).roots).toEqual([rawCid.toString()])
  })

  it('a CIDv0 (Qm…), and its bytes in a multibase as go-cid reads them', async () => {
    const v0 = CID.createV0(crafted.root.multihash as any)
    for (const text of [v0.toString(), bases.base58btc.encode(v0.bytes), bases.base32.encode(v0.bytes), bases.base64url.encode(v0.bytes)]) {
      const res = await get(`/ipfs/${text}?format=raw`)
      expect(res.status, text).toBe(200)
      expect(res.headers.get('x-ipfs-roots'), text).toBe(v0.toString())
      expect(bytesMatchCid(v0, new Uint8Array(await res.arrayBuffer())), text).toBe(true)
    }
  })

  it('what is not a CID is still a 400 InvalidCidError', async () => {
    for (const text of ['not-a-cid', 'uAAAA', 'f12', 'f0155', 'mAXASIA', '%F0%9F%9A%80', 'Qmshort', 'zQm', 'x'.repeat(3000), rawCid.toString().slice(0, -2)]) {
      const res = await get(`/ipfs/${text}?format=raw`)
      expect(res.status, text.slice(0, 40)).toBe(400)
      expect(((await res.json()) as { error: string }).error, text.slice(0, 40)).toBe('InvalidCidError')
    }
  })
})

describe('@helia/verified-fetch sending Cache-Control: only-if-cached', () => {
  it('gets a held UnixFS file and raw block through our gateway; a CID not held is refused with 412 and nobody else asked', async () => {
    // a Helia whose only way to a block is our gateway, its gateway client adding only-if-cached to every request
    const helia = heliaThroughGateway(api.url, {
      transformRequestInit: init => ({ ...init, headers: { ...Object.fromEntries(new Headers(init.headers).entries()), 'cache-control': 'only-if-cached' } })
    })
    await helia.start()
    const verifiedFetch = await createVerifiedFetchWithHelia(helia)
    const seen = contacted.length
    const hits = upstream.hits()
    try {
      const file = await verifiedFetch(`ipfs://${crafted.root.toString()}`)
      expect(file.status).toBe(200)
      expect(Buffer.from(await file.arrayBuffer()).equals(Buffer.from(crafted.bytes))).toBe(true)
      const raw = await verifiedFetch(`ipfs://${rawCid.toString()}`)
      expect(raw.status).toBe(200)
      expect(Buffer.from(await raw.arrayBuffer()).equals(Buffer.from(rawBytes))).toBe(true)
      const ours = contacted.slice(seen)
      expect(ours.length).toBeGreaterThan(0)
      expect(ours.every(c => c.url.startsWith(api.url) && c.status === 200 && c.cacheControl === 'only-if-cached')).toBe(true)

      const missing = cidOf(new TextEncoder().encode('held by nobody at all'), RAW)
      const failed = await verifiedFetch(`ipfs://${missing.toString()}`, { signal: AbortSignal.timeout(3_000) }).then(r => r.status, (err: Error) => err.name)
      expect(failed).not.toBe(200)
      const asked = contacted.slice(seen).filter(c => c.url.includes(missing.toString()))
      expect(asked.length).toBeGreaterThan(0)
      expect(asked.every(c => c.status === 412)).toBe(true)
    } finally {
      await verifiedFetch.stop()
      await helia.stop()
    }
    expect(upstream.hits()).toBe(hits)
  }, 60_000)
})
