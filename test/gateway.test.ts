import { createHash } from 'node:crypto'
import { createVerifiedFetchWithHelia } from '@helia/verified-fetch'
import { CarReader } from '@ipld/car'
import { CID } from 'multiformats/cid'
import { identity } from 'multiformats/hashes/identity'
import * as dagCbor from '@ipld/dag-cbor'
import * as dagPb from '@ipld/dag-pb'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startReadApi, type ReadApi } from '../src/api/server.ts'
import { bytesMatchCid } from '../src/codec/cid.ts'
import { decodeHeader } from '../src/codec/decode.ts'
import type { ChainStore, StoredBlock } from '../src/index.ts'
import { heliaThroughGateway } from './helpers/helia-client.ts'
import { openTestStore, quietLogger } from './helpers/store.ts'

let ctx: Awaited<ReturnType<typeof openTestStore>>
let store: ChainStore
let api: ReadApi
let chain: StoredBlock[]
let rawCid: CID
const rawBytes = new TextEncoder().encode('hello from a chainstore gateway')
let fileCid: CID
const fileBytes = new Uint8Array(2_500_000).map((_, i) => (i * 31 + 7) % 251) // > 1 chunk (1 MiB): dag-pb root + raw leaves

/** Every address any fetch in this file went to: only our gateway is allowed. */
const contacted: string[] = []
const realFetch = globalThis.fetch

beforeAll(async () => {
  globalThis.fetch = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input))
    contacted.push(url.host)
    if (url.hostname !== '127.0.0.1') throw new Error(`test tried to contact ${url.host}`)
    return await realFetch(input, init)
  }
  ctx = await openTestStore()
  store = ctx.store
  chain = await store.storeBlocks(ctx.chain.take(3, store.config.limits))
  rawCid = await store.putBytes(rawBytes, { codec: 'raw' })
  fileCid = await store.addFile(fileBytes)
  api = await startReadApi(store, { host: '127.0.0.1', port: 0, logger: quietLogger })
}, 60_000)

afterAll(async () => {
  await api?.close()
  await ctx?.cleanup()
  globalThis.fetch = realFetch
})

const get = async (path: string, init: RequestInit = {}): Promise<Response> => await realFetch(api.url + path, init)

function pagesOf (cid: CID): CID[] {
  const h = decodeHeader(store.localBytes(cid)!)
  return [...h.txPages, ...h.receiptPages]
}

async function readCar (res: Response): Promise<{ roots: CID[], cids: string[], reader: CarReader }> {
  const reader = await CarReader.fromBytes(new Uint8Array(await res.arrayBuffer()))
  const cids: string[] = []
  for await (const b of reader.blocks()) {
    expect(bytesMatchCid(b.cid, b.bytes)).toBe(true)
    cids.push(b.cid.toString())
  }
  return { roots: await reader.getRoots(), cids, reader }
}

describe('trustless gateway: format=raw', () => {
  it('serves a raw block: bytes equal and hash to the CID, spec headers', async () => {
    const res = await get(`/ipfs/${rawCid.toString()}?format=raw`)
    expect(res.status).toBe(200)
    const bytes = new Uint8Array(await res.arrayBuffer())
    expect(Buffer.from(bytes).equals(Buffer.from(rawBytes))).toBe(true)
    expect(createHash('sha256').update(bytes).digest().equals(Buffer.from(rawCid.multihash.digest))).toBe(true)
    expect(res.headers.get('content-type')).toBe('application/vnd.ipld.raw')
    expect(res.headers.get('content-length')).toBe(String(rawBytes.length))
    expect(res.headers.get('etag')).toBe(`"${rawCid.toString()}.raw"`)
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    expect(res.headers.get('cache-control')).toBe('public, max-age=29030400, immutable')
  })

  it('serves any stored block (a chain header) by Accept alone', async () => {
    const cid = chain[1].cid
    const res = await get(`/ipfs/${cid.toString()}`, { headers: { accept: 'application/vnd.ipld.raw' } })
    expect(res.status).toBe(200)
    const bytes = new Uint8Array(await res.arrayBuffer())
    expect(bytesMatchCid(cid, bytes)).toBe(true)
    expect(decodeHeader(bytes).height).toBe(1)
  })

  it('HEAD has the headers and no body; If-None-Match answers 304', async () => {
    const res = await get(`/ipfs/${rawCid.toString()}?format=raw`, { method: 'HEAD' })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-length')).toBe(String(rawBytes.length))
    expect(res.headers.get('content-type')).toBe('application/vnd.ipld.raw')
    expect((await res.arrayBuffer()).byteLength).toBe(0)
    const again = await get(`/ipfs/${rawCid.toString()}?format=raw`, { headers: { 'if-none-match': res.headers.get('etag')! } })
    expect(again.status).toBe(304)
  })

  it('serves the identity probe CID (bafkqaaa)', async () => {
    const res = await get('/ipfs/bafkqaaa?format=raw')
    expect(res.status).toBe(200)
    expect((await res.arrayBuffer()).byteLength).toBe(0)
  })
})

describe('trustless gateway: identity CIDs', () => {
  const identityCid = (codec: number, bytes: Uint8Array): CID => CID.createV1(codec, identity.digest(bytes))
  const cases: Array<{ name: string, cid: CID, bytes: Uint8Array, decodes: boolean }> = [
    { name: 'bafyaaap7 (dag-pb, 0xff)', cid: CID.parse('bafyaaap7'), bytes: Uint8Array.of(0xff), decodes: false },
    { name: 'dag-pb, valid empty node', cid: identityCid(0x70, dagPb.encode({ Links: [] })), bytes: dagPb.encode({ Links: [] }), decodes: true },
    { name: 'dag-cbor, valid map', cid: identityCid(0x71, dagCbor.encode({ a: 1 })), bytes: dagCbor.encode({ a: 1 }), decodes: true },
    { name: 'dag-cbor, not CBOR', cid: identityCid(0x71, Uint8Array.of(0xff, 0x00)), bytes: Uint8Array.of(0xff, 0x00), decodes: false },
    { name: 'eth-state-trie, not RLP', cid: identityCid(0x96, Uint8Array.of(0xc1)), bytes: Uint8Array.of(0xc1), decodes: false },
    { name: 'an unknown codec', cid: identityCid(0x300001, Uint8Array.of(1, 2, 3)), bytes: Uint8Array.of(1, 2, 3), decodes: false },
    { name: 'raw', cid: identityCid(0x55, Uint8Array.of(1, 2, 3)), bytes: Uint8Array.of(1, 2, 3), decodes: true }
  ]

  it('answers every identity CID from the CID itself or with a 4xx, never a 5xx (GET and HEAD, raw and CAR, every scope)', async () => {
    const queries = ['format=raw', 'format=car', 'format=car&dag-scope=block', 'format=car&dag-scope=entity', 'format=car&dag-scope=all']
    for (const c of cases) {
      for (const q of queries) {
        for (const method of ['GET', 'HEAD']) {
          const res = await get(`/ipfs/${c.cid.toString()}?${q}`, { method })
          const where = `${method} ${c.name} ?${q}`
          expect(res.status, where).toBeLessThan(500)
          if (method === 'HEAD') { expect((await res.arrayBuffer()).byteLength, where).toBe(0); continue }
          if (q === 'format=raw') {
            expect(res.status, where).toBe(200)
            expect(Buffer.from(await res.arrayBuffer()).equals(Buffer.from(c.bytes)), where).toBe(true)
          } else if (res.status === 200) {
            const { roots, cids, reader } = await readCarAny(res)
            expect(roots.map(r => r.toString()), where).toEqual([c.cid.toString()])
            expect(cids, where).toEqual([c.cid.toString()])
            expect(Buffer.from((await reader.get(c.cid))!.bytes).equals(Buffer.from(c.bytes)), where).toBe(true)
          } else {
            // only a block that does not decode may be refused, and only when its links are needed
            expect(c.decodes, where).toBe(false)
            expect(q === 'format=car' || q.endsWith('all') || q.endsWith('entity'), where).toBe(true)
            expect(res.status, where).toBe(422)
            expect(((await res.json()) as { error: string }).error, where).toBe('InvalidIdentityCid')
          }
        }
      }
    }
  })
})

describe('trustless gateway: a stored block that does not decode', () => {
  it('serves it as raw and as a one-block CAR, and answers 422 where its links are needed', async () => {
    const junk = Uint8Array.of(0xff, 0x00, 0xff)
    const cid = CID.createV1(0x70, (await import('multiformats/hashes/sha2')).sha256.digest(junk) as any)
    await store.helia.blockstore.put(cid, junk)
    expect((await get(`/ipfs/${cid.toString()}?format=raw`)).status).toBe(200)
    expect((await get(`/ipfs/${cid.toString()}?format=car&dag-scope=block`)).status).toBe(200)
    for (const scope of ['all', 'entity']) {
      const res = await get(`/ipfs/${cid.toString()}?format=car&dag-scope=${scope}`)
      expect(res.status, scope).toBe(422)
      expect(((await res.json()) as { error: string }).error).toBe('UndecodableBlock')
    }
  })
})

/** A CAR whose blocks may be identity blocks (their bytes are the digest, not hashed). */
async function readCarAny (res: Response): Promise<{ roots: CID[], cids: string[], reader: CarReader }> {
  const reader = await CarReader.fromBytes(new Uint8Array(await res.arrayBuffer()))
  const cids: string[] = []
  for await (const b of reader.blocks()) cids.push(b.cid.toString())
  return { roots: await reader.getRoots(), cids, reader }
}

describe('trustless gateway: errors', () => {
  it('404 for a CID not stored here (GET and HEAD), without asking anyone else', async () => {
    const unknown = CID.createV1(0x55, (await import('multiformats/hashes/sha2')).sha256.digest(new TextEncoder().encode('nobody has this')) as any)
    const res = await get(`/ipfs/${unknown.toString()}?format=raw`)
    expect(res.status).toBe(404)
    expect((await res.json() as { error: string }).error).toBe('BlockNotFoundError')
    expect((await get(`/ipfs/${unknown.toString()}?format=car`)).status).toBe(404)
    const head = await get(`/ipfs/${unknown.toString()}?format=car`, { method: 'HEAD' })
    expect(head.status).toBe(404)
    expect((await head.arrayBuffer()).byteLength).toBe(0)
  })

  it('400 for a malformed CID, an unknown format, a bad dag-scope or no format at all', async () => {
    const bad = await get('/ipfs/not-a-cid?format=raw')
    expect(bad.status).toBe(400)
    expect((await bad.json() as { error: string }).error).toBe('InvalidCidError')
    expect((await get(`/ipfs/${rawCid.toString()}?format=tar`)).status).toBe(400)
    expect((await get(`/ipfs/${rawCid.toString()}?format=car&dag-scope=everything`)).status).toBe(400)
    expect((await get(`/ipfs/${rawCid.toString()}`)).status).toBe(400)
    expect((await get(`/ipfs/${rawCid.toString()}/a/path?format=raw`)).status).toBe(400)
  })

  it('406 for an Accept it cannot satisfy; 405 for other methods', async () => {
    expect((await get(`/ipfs/${rawCid.toString()}`, { headers: { accept: 'text/html' } })).status).toBe(406)
    expect((await get(`/ipfs/${rawCid.toString()}`, { headers: { accept: 'application/vnd.ipld.car; version=2' } })).status).toBe(406)
    expect((await get(`/ipfs/${rawCid.toString()}?format=raw`, { method: 'POST' })).status).toBe(405)
  })

  it('leaves the JSON read API as it was', async () => {
    const res = await get('/status')
    expect(res.status).toBe(200)
    expect((await get('/blocks/1')).status).toBe(200)
  })
})

describe('trustless gateway: format=car', () => {
  it('dag-scope=all: CARv1 rooted at the CID with the header, every page and the ancestors', async () => {
    const cid = chain[2].cid
    const res = await get(`/ipfs/${cid.toString()}?format=car`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/vnd.ipld.car; version=1; order=dfs; dups=n')
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    const declared = Number(res.headers.get('content-length'))
    const { roots, cids, reader } = await readCar(res.clone())
    expect(declared).toBe((await res.arrayBuffer()).byteLength)
    expect(reader.version).toBe(1)
    expect(roots.map(String)).toEqual([cid.toString()])
    expect(cids[0]).toBe(cid.toString())
    const expected = chain.flatMap(b => [b.cid, ...pagesOf(b.cid)]).map(String)
    expect(new Set(cids)).toEqual(new Set(expected))
    expect(cids).toHaveLength(new Set(cids).size) // dups=n
  })

  it('dag-scope=entity on a chain header (dag-cbor, not UnixFS): the header alone, as block (spec)', async () => {
    const cid = chain[2].cid
    const res = await get(`/ipfs/${cid.toString()}?format=car&dag-scope=entity`)
    expect(res.status).toBe(200)
    expect(res.headers.get('etag')).toBe(`"${cid.toString()}.car.entity.dfs.n"`)
    const { cids } = await readCar(res)
    expect(cids).toEqual([cid.toString()])
    expect(pagesOf(cid).length).toBeGreaterThan(0) // it has pages; entity leaves them out
  })

  it('dag-scope=block: only the root block; Accept works as well as format', async () => {
    const cid = chain[1].cid
    const res = await get(`/ipfs/${cid.toString()}?dag-scope=block`, { headers: { accept: 'application/vnd.ipld.car; version=1' } })
    expect(res.status).toBe(200)
    const { roots, cids } = await readCar(res)
    expect(roots.map(String)).toEqual([cid.toString()])
    expect(cids).toEqual([cid.toString()])
  })

  it('a UnixFS file: every block, and the leaves rebuild the file', async () => {
    const { cids, reader } = await readCar(await get(`/ipfs/${fileCid.toString()}?format=car`))
    expect(cids[0]).toBe(fileCid.toString())
    expect(cids.length).toBeGreaterThan(2)
    const leaves = await Promise.all(cids.slice(1).map(async c => (await reader.get(CID.parse(c)))!.bytes))
    expect(Buffer.concat(leaves).equals(Buffer.from(fileBytes))).toBe(true)
    const entity = await readCar(await get(`/ipfs/${fileCid.toString()}?format=car&dag-scope=entity`))
    expect(entity.cids).toEqual(cids)
  })

  it('HEAD on a CAR: exact length, no body', async () => {
    const cid = chain[0].cid
    const head = await get(`/ipfs/${cid.toString()}?format=car`, { method: 'HEAD' })
    const full = await get(`/ipfs/${cid.toString()}?format=car`)
    expect(head.status).toBe(200)
    expect((await head.arrayBuffer()).byteLength).toBe(0)
    expect(head.headers.get('content-length')).toBe(String((await full.arrayBuffer()).byteLength))
  })
})

describe('@helia/verified-fetch through our gateway', () => {
  it('fetches and verifies a raw block, a dag-cbor chain header and a UnixFS file', async () => {
    // a Helia whose only way to a block is our gateway
    const helia = heliaThroughGateway(api.url)
    await helia.start()
    const verifiedFetch = await createVerifiedFetchWithHelia(helia)
    try {
      const raw = await verifiedFetch(`ipfs://${rawCid.toString()}`)
      expect(raw.status).toBe(200)
      expect(Buffer.from(await raw.arrayBuffer()).equals(Buffer.from(rawBytes))).toBe(true)

      const headerCid = chain[2].cid
      const header = await verifiedFetch(`ipfs://${headerCid.toString()}`)
      expect(header.status).toBe(200)
      // a chain header holds bytes and CID links, which JSON cannot carry, so
      // verified-fetch answers the dag-cbor bytes, not JSON (its README says
      // application/octet-stream; v8 sends application/vnd.ipld.dag-cbor)
      expect(header.headers.get('content-type')).toBe('application/vnd.ipld.dag-cbor')
      const stored = store.localBytes(headerCid)!
      const got = new Uint8Array(await header.arrayBuffer())
      expect(Buffer.from(got).equals(Buffer.from(stored))).toBe(true)
      const h = decodeHeader(got)
      expect(h.height).toBe(2)
      expect(h.parent?.toString()).toBe(chain[1].cid.toString())

      const file = await verifiedFetch(`ipfs://${fileCid.toString()}`)
      expect(file.status).toBe(200)
      expect(Buffer.from(await file.arrayBuffer()).equals(Buffer.from(fileBytes))).toBe(true)
    } finally {
      await verifiedFetch.stop()
      await helia.stop()
    }
    expect(contacted.length).toBeGreaterThan(0)
    expect(new Set(contacted)).toEqual(new Set([new URL(api.url).host]))
  }, 60_000)
})

describe('/pins', () => {
  it('lists pin records with their reasons, and refuses a bad limit', async () => {
    const res = await get('/pins')
    expect(res.status).toBe(200)
    const pins = await res.json() as any[]
    expect(pins.some((p: any) => p.reasons.includes('chain') && p.height === 2)).toBe(true)
    expect(pins.some((p: any) => p.reasons.includes('blob'))).toBe(true)
    expect(pins.some((p: any) => p.reasons.includes('user'))).toBe(true)
    expect((await (await get('/pins?limit=1')).json())).toHaveLength(1)
    expect(pins.every((p: any) => p.state === 'pinned')).toBe(true)
    expect(await (await get('/pins?state=failed')).json()).toEqual([])
    expect((await get('/pins?state=lost')).status).toBe(400)
    const bad = await get('/pins?limit=0')
    expect(bad.status).toBe(400)
    expect((await bad.json() as any).error).toBe('InvalidQueryError')
  })
})
