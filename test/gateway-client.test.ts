import { createServer, type RequestListener, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { gzipSync } from 'node:zlib'
import * as dagCbor from '@ipld/dag-cbor'
import { varint } from 'multiformats'
import { CID } from 'multiformats/cid'
import { identity } from 'multiformats/hashes/identity'
import { sha512 } from 'multiformats/hashes/sha2'
import { afterEach, describe, expect, it } from 'vitest'
import { GatewayClient, GatewayFetchError, UnverifiableCidError, type GatewayScore } from '../src/gateway/client.ts'
import { cidOf, DAG_CBOR, RAW } from '../src/codec/cid.ts'
import { openTestStore, quietLogger } from './helpers/store.ts'
import { startReadApi } from '../src/api/server.ts'
import { closeTestGateways, testGateway as gateway, testGateway, type Behaviour } from './helpers/gateway.ts'

afterEach(closeTestGateways)

describe('gateway fallback client', () => {
  let cleanup: (() => Promise<void>) | undefined
  afterEach(async () => { await cleanup?.(); cleanup = undefined })

  it('skips every kind of bad gateway for the next one, returns only verified bytes, and remembers scores across restarts', async () => {
    const t = await openTestStore()
    cleanup = t.cleanup
    const block = new TextEncoder().encode('a block only gateways have '.repeat(40))
    const cid = cidOf(block, RAW)
    const blocks = new Map([[cid.toString(), block]])
    const bad: Behaviour[] = ['wrong-bytes', 'truncated', 'huge', 'drip', 'not-found', 'error']
    const liars = await Promise.all(bad.map(async b => await gateway(b, blocks)))
    const honest = await gateway('honest', blocks)
    const make = (): GatewayClient => new GatewayClient({
      gateways: [...liars.map(l => l.url), honest.url],
      timeoutMs: 5_000,
      stallMs: 200,
      maxBytes: 64 * 1024,
      maxCarBytes: 1024 * 1024,
      scores: t.store.kv<GatewayScore>('gateway-scores'),
      logger: quietLogger
    })
    const client = make()
    const started = Date.now()
    const bytes = await client.fetchBlock(cid)
    expect(Buffer.from(bytes).equals(Buffer.from(block))).toBe(true)
    expect(Date.now() - started).toBeLessThan(5_000) // the drip and the 100 MB body were cut short
    const scores = await client.scores()
    expect(scores[liars[0].url].lied).toBe(1) // wrong bytes
    expect(scores[liars[2].url].lied).toBe(1) // too large
    expect(scores[liars[3].url].failed).toBe(1) // stalled
    expect(scores[liars[1].url].failed + scores[liars[1].url].lied).toBe(1) // truncated
    expect(scores[liars[5].url].failed).toBe(1) // HTTP 500
    expect(scores[liars[4].url]).toMatchObject({ ok: 0, failed: 0, lied: 0 }) // a 404 is no fault
    expect(scores[honest.url].ok).toBe(1)

    // a new client over the same store (a restart) asks the honest gateway first
    await t.store.stop()
    const reopened = await t.reopen()
    const again = new GatewayClient({ gateways: [...liars.map(l => l.url), honest.url], timeoutMs: 5_000, stallMs: 200, maxBytes: 64 * 1024, maxCarBytes: 1024 * 1024, scores: reopened.kv<GatewayScore>('gateway-scores'), logger: quietLogger })
    expect((await again.order())[0]).toBe(honest.url)
    const before = liars.map(l => l.hits())
    await again.fetchBlock(cid)
    expect(liars.map(l => l.hits())).toEqual(before) // no liar asked
  })

  it('fails with a typed error naming what each gateway did when none has verified bytes', async () => {
    const t = await openTestStore()
    cleanup = t.cleanup
    const block = new TextEncoder().encode('nobody has this right')
    const cid = cidOf(block, RAW)
    const liar = await gateway('wrong-bytes', new Map([[cid.toString(), block]]))
    const empty = await gateway('not-found', new Map())
    const client = new GatewayClient({ gateways: [liar.url, empty.url], timeoutMs: 2_000, stallMs: 500, maxBytes: 1024, maxCarBytes: 1024 * 1024, scores: t.store.kv('gateway-scores'), logger: quietLogger })
    const err = await client.fetchBlock(cid).catch(e => e)
    expect(err).toBeInstanceOf(GatewayFetchError)
    expect(err.attempts.map((a: any) => a.outcome)).toEqual(['wrong-bytes', 'not-found'])
    expect(err.message).toContain('wrong-bytes')
  })

  it('store.getBytes falls back to gateways, caches the verified block unpinned, and says what it tried', async () => {
    const block = new TextEncoder().encode('served by a local gateway only')
    const cid = cidOf(block, RAW)
    const blocks = new Map([[cid.toString(), block]])
    const liar = await gateway('wrong-bytes', blocks)
    const honest = await gateway('honest', blocks)
    const t = await openTestStore({ gateways: { enabled: true, urls: [liar.url, honest.url], timeoutMs: 2_000, stallMs: 500 } })
    cleanup = t.cleanup
    expect(t.store.localBytes(cid)).toBeUndefined()
    expect(Buffer.from(await t.store.getBytes(cid)).equals(Buffer.from(block))).toBe(true)
    expect(Buffer.from(t.store.localBytes(cid)!).equals(Buffer.from(block))).toBe(true)
    const pins = []
    for await (const p of t.store.pins()) pins.push(p.cid.toString())
    expect(pins).not.toContain(cid.toString())
    const unknown = cidOf(new TextEncoder().encode('nobody'), RAW)
    await expect(t.store.getBytes(unknown)).rejects.toThrow(/not-found/)
  })

  it('node B, with no peer holding a block, reads it through node A\'s own gateway past a lying one, and caches it', async () => {
    const a = await openTestStore()
    const [stored] = await a.store.storeBlocks(a.chain.take(1, a.store.config.limits))
    const api = await startReadApi(a.store, { host: '127.0.0.1', port: 0, logger: quietLogger })
    const header = a.store.localBytes(stored.cid)!
    const liar = await gateway('wrong-bytes', new Map([[stored.cid.toString(), header]]))
    const b = await openTestStore({ gateways: { enabled: true, urls: [liar.url, api.url], timeoutMs: 2_000, stallMs: 500 } })
    cleanup = async () => { await api.close(); await a.cleanup(); await b.cleanup() }
    const bytes = await b.store.getBytes(stored.cid)
    expect(Buffer.from(bytes).equals(Buffer.from(header))).toBe(true)
    expect(b.store.localBytes(stored.cid)).toBeDefined()
    // the whole block DAG follows by CID: the pages the header links to
    const { decodeHeader } = await import('../src/codec/decode.ts')
    for (const page of decodeHeader(bytes).txPages) expect((await b.store.getBytes(page)).length).toBeGreaterThan(0)
    expect(liar.hits()).toBe(1) // after its lie it is asked last, and the honest gateway answers first
  })
})

/** Servers the tests below start on 127.0.0.1 (closed after each test). */
const started: Server[] = []
afterEach(async () => {
  await Promise.all(started.splice(0).map(async s => await new Promise<void>(resolve => { s.closeAllConnections(); s.close(() => resolve()) })))
})

async function serve (handler: RequestListener): Promise<{ url: string, hits: () => number }> {
  let hits = 0
  const server = createServer((req, res) => { hits++; handler(req, res) })
  started.push(server)
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits: () => hits }
}

/** A CARv1 of `blocks` rooted at `root`, in the order given. */
function car (root: CID, blocks: Array<{ cid: CID, bytes: Uint8Array }>): Uint8Array {
  const parts: Uint8Array[] = []
  const section = (...chunks: Uint8Array[]): void => {
    const n = chunks.reduce((a, c) => a + c.length, 0)
    const prefix = new Uint8Array(varint.encodingLength(n))
    varint.encodeTo(n, prefix, 0)
    parts.push(prefix, ...chunks)
  }
  section(dagCbor.encode({ version: 1, roots: [root] }))
  for (const b of blocks) section(b.cid.bytes, b.bytes)
  return Buffer.concat(parts)
}

const carGateway = async (bytes: Uint8Array): Promise<{ url: string, hits: () => number }> =>
  await serve((_req, res) => { res.writeHead(200, { 'content-type': 'application/vnd.ipld.car; version=1' }); res.end(bytes) })

describe('gateway client: what it will not ask for, and what it will not take', () => {
  let cleanup: (() => Promise<void>) | undefined
  afterEach(async () => { await cleanup?.(); cleanup = undefined })

  const client = (store: Awaited<ReturnType<typeof openTestStore>>['store'], gateways: string[]): GatewayClient => new GatewayClient({
    gateways, timeoutMs: 10_000, stallMs: 5_000, maxBytes: 64 * 1024, maxCarBytes: 1024 * 1024, scores: store.kv<GatewayScore>('gateway-scores'), logger: quietLogger
  })

  it('refuses CIDs it cannot verify (sha2-512, identity) before any request, and scores no gateway for them', async () => {
    const t = await openTestStore()
    cleanup = t.cleanup
    const bytes = new TextEncoder().encode('hashed with a function chainstore does not compute')
    const honest = await testGateway('honest', new Map())
    const c = client(t.store, [honest.url])
    const unverifiable = [CID.createV1(RAW, await sha512.digest(bytes)), CID.createV1(RAW, identity.digest(bytes)), CID.parse('bafyaaap7')]
    for (const cid of unverifiable) {
      for (const call of [async () => await c.fetchBlock(cid), async () => await c.fetchDag(cid, { scope: 'all' })]) {
        const err = await call().catch(e => e)
        expect(err).toBeInstanceOf(UnverifiableCidError)
        expect(err.name).toBe('UnverifiableCidError')
        expect(err.cid).toBe(cid.toString())
      }
    }
    expect(honest.hits()).toBe(0)
    expect((await c.scores())[honest.url]).toEqual({ ok: 0, failed: 0, lied: 0, at: 0 })
  })

  it('a CAR padded with blocks outside the requested DAG costs the gateway; a DAG with an unverifiable block scores nobody', async () => {
    const t = await openTestStore()
    cleanup = t.cleanup
    const leaf = new TextEncoder().encode('the one leaf')
    const leafCid = cidOf(leaf, RAW)
    const inline = CID.createV1(RAW, identity.digest(Uint8Array.of(7)))
    const rootBytes = dagCbor.encode({ leaf: leafCid, small: inline })
    const root = cidOf(rootBytes, DAG_CBOR)
    const stranger = new TextEncoder().encode('not part of that DAG')
    const dag = [{ cid: root, bytes: rootBytes }, { cid: inline, bytes: Uint8Array.of(7) }, { cid: leafCid, bytes: leaf }]
    const padded = await carGateway(car(root, [...dag, { cid: cidOf(stranger, RAW), bytes: stranger }]))
    const honest = await carGateway(car(root, dag))
    const c = client(t.store, [padded.url, honest.url])
    const blocks = await c.fetchDag(root, { scope: 'all' })
    expect(blocks.map(b => b.cid.toString())).toEqual([root.toString(), leafCid.toString()]) // the identity block is checked, not returned
    const scores = await c.scores()
    expect(scores[padded.url]).toMatchObject({ ok: 0, lied: 1 })
    expect(scores[honest.url]).toMatchObject({ ok: 1, lied: 0 })

    // a DAG that links a sha2-512 block: the gateway sends what was asked, but nobody can prove it
    const odd = new TextEncoder().encode('sha2-512 child')
    const oddCid = CID.createV1(RAW, await sha512.digest(odd))
    const oddRootBytes = dagCbor.encode({ child: oddCid })
    const oddRoot = cidOf(oddRootBytes, DAG_CBOR)
    const sender = await carGateway(car(oddRoot, [{ cid: oddRoot, bytes: oddRootBytes }, { cid: oddCid, bytes: odd }]))
    const next = await carGateway(car(oddRoot, [{ cid: oddRoot, bytes: oddRootBytes }]))
    const c2 = client(t.store, [sender.url, next.url])
    const err = await c2.fetchDag(oddRoot, { scope: 'all' }).catch(e => e)
    expect(err.name).toBe('UnverifiableCidError')
    expect(err.cid).toBe(oddCid.toString())
    expect(next.hits()).toBe(0) // another gateway could not prove it either
    expect((await c2.scores())[sender.url]).toEqual({ ok: 0, failed: 0, lied: 0, at: 0 })
  })

  it('refuses a gzip bomb at the headers (it asked for identity encoding), long before it inflates', async () => {
    const t = await openTestStore()
    cleanup = t.cleanup
    const block = new TextEncoder().encode('the real block')
    const cid = cidOf(block, RAW)
    // gzip members concatenate: 4,096 of 16 MiB of zeros each is 64 GiB inflated from ~64 MiB on the
    // wire. More than loopback's socket buffers hold (a few MiB): with 256 members (~4 MiB) the whole
    // bomb sometimes fit in them before the client hung up, and `sent` reached the total although
    // the client read none of it
    const member = gzipSync(Buffer.alloc(16 * 1024 * 1024), { level: 9 })
    const total = 4096
    let sent = 0
    let askedEncoding: string | undefined
    const bomb = await serve((req, res) => {
      askedEncoding = req.headers['accept-encoding']
      res.writeHead(200, { 'content-type': 'application/vnd.ipld.raw', 'content-encoding': 'gzip' })
      const pump = (): void => { while (sent < total && !res.destroyed) { sent++; if (!res.write(member)) { res.once('drain', pump); return } } res.end() }
      pump()
    })
    const honest = await testGateway('honest', new Map([[cid.toString(), block]]))
    const outcomes: string[] = []
    const c = new GatewayClient({ gateways: [bomb.url, honest.url], timeoutMs: 10_000, stallMs: 5_000, maxBytes: 64 * 1024, maxCarBytes: 256 * 1024 * 1024, scores: t.store.kv<GatewayScore>('gateway-scores'), logger: quietLogger, onAttempt: a => outcomes.push(a.outcome) })
    const rssBefore = process.memoryUsage().rss
    const fetched = await c.fetchBlock(cid)
    expect(Buffer.from(fetched).equals(Buffer.from(block))).toBe(true)
    expect(outcomes).toEqual(['encoded', 'ok'])
    expect(askedEncoding).toBe('identity')
    expect(sent).toBeLessThan(total) // the client hung up before the bomb was even sent
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(64 * 1024 * 1024)
    expect((await c.scores())[bomb.url]).toMatchObject({ lied: 1 })
  })
})
