/**
 * The IPFS Pinning Service API this node serves under /psa, driven by a client
 * someone else wrote against the spec: @ipfs-shipyard/pinning-service-client
 * (generated from the spec's OpenAPI document).
 */
import { Configuration, RemotePinningServiceClient, Status, TextMatchingStrategy } from '@ipfs-shipyard/pinning-service-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startReadApi, type ReadApi } from '../src/api/server.ts'
import { CID } from '../src/index.ts'
import { openTestStore, quietLogger } from './helpers/store.ts'
import { freePort, until } from './helpers/wait.ts'

const TOKEN = 'psa-test-token-0123456789abcdef'
let t: Awaited<ReturnType<typeof openTestStore>>
let api: ReadApi
let client: RemotePinningServiceClient

beforeAll(async () => {
  t = await openTestStore({ pinningService: { enabled: true, tokens: [TOKEN] } })
  api = await startReadApi(t.store, { host: '127.0.0.1', port: 0, logger: quietLogger })
  client = new RemotePinningServiceClient(new Configuration({ endpointUrl: `${api.url}/psa`, accessToken: TOKEN }))
})
afterAll(async () => { await api?.close(); await t?.cleanup() })

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)
async function statusOf (requestid: string): Promise<Status> { return (await client.pinsRequestidGet({ requestid })).status }
async function httpStatus (p: Promise<unknown>): Promise<number> {
  // the generated client throws the fetch Response itself for a non-2xx status
  try { await p; return 200 } catch (err: any) { return err?.status ?? err?.response?.status ?? -1 }
}

describe('Pinning Service API (/psa)', () => {
  it('a pin request for bytes held here goes queued → pinned under the remote reason; list filters by name, cid, meta and status; the record carries the pin as sent', async () => {
    const cid = await t.store.putBytes(bytes('psa one'), { pin: false })
    const created = await client.pinsPost({ pin: { cid: cid.toString(), name: 'Release-Notes', meta: { app: 'notes' } } })
    expect(created.requestid).toMatch(/^[0-9a-f-]{36}$/)
    expect([Status.Queued, Status.Pinning, Status.Pinned]).toContain(created.status)
    expect(created.pin).toEqual({ cid: cid.toString(), name: 'Release-Notes', meta: { app: 'notes' } })
    expect(created.created).toBeInstanceOf(Date)
    await until(async () => await statusOf(created.requestid) === Status.Pinned, 10_000, 'the request to be pinned')
    expect(t.store.pinRecord(cid)?.reasons).toContain('remote')
    const other = await t.store.putBytes(bytes('psa two'), { pin: false })
    const second = await client.pinsPost({ pin: { cid: other.toString(), name: 'draft' } })
    await until(async () => await statusOf(second.requestid) === Status.Pinned, 10_000, 'the second request to be pinned')

    expect((await client.pinsGet({})).count).toBe(2)
    const byName = await client.pinsGet({ name: 'release', match: TextMatchingStrategy.Ipartial })
    expect(byName.results.map(r => r.requestid)).toEqual([created.requestid])
    expect((await client.pinsGet({ name: 'release', match: TextMatchingStrategy.Exact })).count).toBe(0)
    expect((await client.pinsGet({ cid: [other.toString()] })).results.map(r => r.requestid)).toEqual([second.requestid])
    expect((await client.pinsGet({ status: [Status.Failed, Status.Queued] })).count).toBe(0)
    // newest first; `before` pages back
    const all = await client.pinsGet({ limit: 1 })
    expect(all.count).toBe(2)
    expect(all.results.map(r => r.requestid)).toEqual([second.requestid])
    expect((await client.pinsGet({ before: all.results[0].created })).results.map(r => r.requestid)).toEqual([created.requestid])
    const meta = await fetch(`${api.url}/psa/pins?meta=${encodeURIComponent(JSON.stringify({ app: 'notes' }))}`, { headers: { authorization: `Bearer ${TOKEN}` } })
    expect((await meta.json() as any).results.map((r: any) => r.requestid)).toEqual([created.requestid])
  })

  it('replace gives a new request and releases the old CID; delete releases it; a user pin on the same CID survives', async () => {
    const a = await t.store.putBytes(bytes('psa replace a'), { pin: false })
    const b = await t.store.putBytes(bytes('psa replace b'), { pin: false })
    const first = await client.pinsPost({ pin: { cid: a.toString() } })
    await until(async () => await statusOf(first.requestid) === Status.Pinned, 10_000, 'a pinned')
    const replaced = await client.pinsRequestidPost({ requestid: first.requestid, pin: { cid: b.toString(), name: 'b' } })
    expect(replaced.requestid).not.toBe(first.requestid)
    expect(await httpStatus(client.pinsRequestidGet({ requestid: first.requestid }))).toBe(404)
    expect(t.store.pinRecord(a)?.reasons.includes('remote') ?? false).toBe(false)
    await until(async () => await statusOf(replaced.requestid) === Status.Pinned, 10_000, 'b pinned')

    // the user pins b too: deleting the remote request leaves the user's hold
    await t.store.pin(b)
    await client.pinsRequestidDelete({ requestid: replaced.requestid })
    expect(await httpStatus(client.pinsRequestidGet({ requestid: replaced.requestid }))).toBe(404)
    expect(t.store.pinRecord(b)?.reasons).toEqual(['user'])
    // two requests for one CID: deleting one keeps the CID held for the other
    const c = await t.store.putBytes(bytes('psa twice'), { pin: false })
    const r1 = await client.pinsPost({ pin: { cid: c.toString() } })
    const r2 = await client.pinsPost({ pin: { cid: c.toString() } })
    await client.pinsRequestidDelete({ requestid: r1.requestid })
    expect(t.store.pinRecord(c)?.reasons).toContain('remote')
    await client.pinsRequestidDelete({ requestid: r2.requestid })
    expect(t.store.pinRecord(c)).toBeUndefined()
  })

  it('a CID no peer or gateway has ends failed, with the reason in info', async () => {
    const missing = CID.parse('bafkreiemqpndzewx4bioklzfvhtiegsfny5fxuc3nkjk2vmcpjxiammsti')
    const r = await client.pinsPost({ pin: { cid: missing.toString() } })
    await until(async () => await statusOf(r.requestid) === Status.Failed, 30_000, 'the request to fail')
    const failed = await client.pinsGet({ status: [Status.Failed] })
    expect(failed.results.map(x => x.requestid)).toContain(r.requestid)
    expect(JSON.stringify(failed.results.find(x => x.requestid === r.requestid)?.info ?? {})).toMatch(/status_details/)
    await client.pinsRequestidDelete({ requestid: r.requestid })
  })

  it('without the token, with a wrong one, or with bad input: the spec\'s error shape and status, nothing stored', async () => {
    const none = await fetch(`${api.url}/psa/pins`)
    expect(none.status).toBe(401)
    expect(await none.json()).toEqual({ error: { reason: 'UNAUTHORIZED', details: expect.stringContaining('Bearer') } })
    const wrong = new RemotePinningServiceClient(new Configuration({ endpointUrl: `${api.url}/psa`, accessToken: 'not-the-token-0123456789' }))
    expect(await httpStatus(wrong.pinsPost({ pin: { cid: 'bafkqaaa' } }))).toBe(401)
    const before = (await client.pinsGet({ status: [Status.Queued, Status.Pinning, Status.Pinned, Status.Failed] })).count
    expect(await httpStatus(client.pinsPost({ pin: { cid: 'not-a-cid' } }))).toBe(400)
    const bad = await fetch(`${api.url}/psa/pins?limit=5000`, { headers: { authorization: `Bearer ${TOKEN}` } })
    expect(bad.status).toBe(400)
    expect((await bad.json() as any).error.reason).toBe('BAD_REQUEST')
    expect((await client.pinsGet({ status: [Status.Queued, Status.Pinning, Status.Pinned, Status.Failed] })).count).toBe(before)
    // the rest of the API stays read-only
    expect((await fetch(`${api.url}/pins`, { method: 'POST' })).status).toBe(405)
  })
})

describe('remote pinning services as extra replicas (config remotePinning)', () => {
  it('a root pinned here is pinned at the service too (which fetches it from this node\'s gateway) and released with the local pin; a service that is down is kept to retry; the token is never in the statuses', async () => {
    const portA = await freePort()
    const down = await freePort()
    // B: a chainstore serving the Pinning Service API, fetching what it is asked to pin from A's trustless gateway
    const b = await openTestStore({ pinningService: { enabled: true, tokens: [TOKEN] }, gateways: { enabled: true, urls: [`http://127.0.0.1:${portA}`], timeoutMs: 5_000, stallMs: 2_000 } })
    const apiB = await startReadApi(b.store, { host: '127.0.0.1', port: 0, logger: quietLogger })
    const a = await openTestStore({
      remotePinning: { services: [{ name: 'b', endpoint: `${apiB.url}/psa`, token: TOKEN }, { name: 'down', endpoint: `http://127.0.0.1:${down}/psa`, token: 'another-token' }], intervalMs: 200 }
    })
    const apiA = await startReadApi(a.store, { host: '127.0.0.1', port: portA, logger: quietLogger })
    try {
      const content = new Uint8Array(300_000).map((_, i) => (i * 7919) % 251)
      const cid = await a.store.addFile(content)
      const at = async (service: string) => (await a.store.remotePins({ refresh: true })).find(s => s.service === service && s.cid === cid.toString())
      await until(async () => (await at('b'))?.status === 'pinned', 20_000, 'the remote pin at b to be pinned')
      expect(b.store.pinRecord(cid)).toMatchObject({ state: 'pinned', reasons: ['remote'] })
      const back: Uint8Array[] = []
      for await (const chunk of b.store.cat(cid)) back.push(chunk)
      expect(Buffer.concat(back).equals(Buffer.from(content))).toBe(true)
      // the service that is down: not accepted, kept and retried
      const unsent = await at('down')
      expect(unsent).toMatchObject({ status: 'unsent', requestid: null })
      expect(unsent!.error).toMatch(/fetch failed|ECONNREFUSED/)
      expect(JSON.stringify(await a.store.remotePins())).not.toContain(TOKEN)

      // a user pin follows the same way; when it goes, the remote request is removed and b lets the root go
      const held = await a.store.putBytes(bytes('held for a while'), { pin: false })
      await a.store.pin(held)
      await until(async () => (await a.store.remotePins({ refresh: true })).some(s => s.service === 'b' && s.cid === held.toString() && s.status === 'pinned'), 20_000, 'the user pin at b')
      expect(await a.store.unpin(held)).toBe(true)
      await until(async () => (await a.store.remotePins()).every(s => s.cid !== held.toString()), 10_000, 'the remote requests to be removed')
      await until(async () => b.store.pinRecord(held) === undefined, 10_000, 'b to release the root')
      expect(b.store.pinRecord(cid)?.state).toBe('pinned')
    } finally {
      await apiA.close(); await a.cleanup(); await apiB.close(); await b.cleanup()
    }
  })
})
