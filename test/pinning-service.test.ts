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
import { until } from './helpers/wait.ts'

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
    expect((await meta.json()).results.map((r: any) => r.requestid)).toEqual([created.requestid])
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
    expect((await bad.json()).error.reason).toBe('BAD_REQUEST')
    expect((await client.pinsGet({ status: [Status.Queued, Status.Pinning, Status.Pinned, Status.Failed] })).count).toBe(before)
    // the rest of the API stays read-only
    expect((await fetch(`${api.url}/pins`, { method: 'POST' })).status).toBe(405)
  })
})
