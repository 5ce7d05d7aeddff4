import { afterEach, describe, expect, it } from 'vitest'
import { GatewayClient, GatewayFetchError, type GatewayScore } from '../src/gateway/client.ts'
import { cidOf, RAW } from '../src/codec/cid.ts'
import { openTestStore, quietLogger } from './helpers/store.ts'
import { startReadApi } from '../src/api/server.ts'
import { closeTestGateways, testGateway as gateway, type Behaviour } from './helpers/gateway.ts'

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
