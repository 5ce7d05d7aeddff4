import { randomUUID, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { CID } from 'multiformats/cid'
import { parseCid } from '../codec/cid.ts'
import type { ChainStore } from '../node/chainstore.ts'
import type { PinRecord } from '../pinning/records.ts'

/**
 * The IPFS Pinning Service API (https://ipfs.github.io/pinning-services-api-spec/)
 * served under `/psa`: any pinning client (Kubo's `ipfs pin remote`, the
 * OpenAPI-generated JS client) can ask this node to pin. A request holds its
 * CID with the `remote` reason (apart from the API's and CLI's `user` pins);
 * its status is the pin record's state (queued, pinning, pinned, failed).
 * Requests are kept in the node's kv store (namespace `pinning-service`).
 * Bearer tokens from config `pinningService.tokens`.
 */

/** The spec's Pin object. */
interface PsaPin { cid: string, name?: string, origins?: string[], meta?: Record<string, string> }
/** A request as kept here. */
interface PsaRequest { requestid: string, created: string, pin: PsaPin }
type PsaStatus = 'queued' | 'pinning' | 'pinned' | 'failed'

const STATUSES: readonly PsaStatus[] = ['queued', 'pinning', 'pinned', 'failed']
const MATCHES = ['exact', 'iexact', 'partial', 'ipartial'] as const
const NAMESPACE = 'pinning-service'
const MAX_LIMIT = 1000
const MAX_NAME = 255
const MAX_ORIGINS = 20
const MAX_META_KEYS = 1000

/** A failure in the spec's shape: `{ error: { reason, details } }`. */
class PsaError extends Error {
  readonly status: number
  readonly reason: string
  constructor (status: number, reason: string, details: string) {
    super(details)
    this.status = status
    this.reason = reason
  }
}

function fail (status: number, reason: string, details: string): never {
  throw new PsaError(status, reason, details)
}

/** The spec's Pin from a request body; PsaError 400 naming the field otherwise. */
function parsePin (body: unknown): { pin: PsaPin, cid: CID } {
  if (body == null || typeof body !== 'object' || Array.isArray(body)) fail(400, 'BAD_REQUEST', 'the body must be a JSON Pin object: { cid, name?, origins?, meta? }')
  const b = body as Record<string, unknown>
  let cid: CID
  try { cid = parseCid(b.cid as string, 'cid') } catch (err) { fail(400, 'BAD_REQUEST', `cid: ${(err as Error).message}`) }
  if (b.name !== undefined && (typeof b.name !== 'string' || b.name.length > MAX_NAME)) fail(400, 'BAD_REQUEST', `name: expected a string of at most ${MAX_NAME} characters`)
  if (b.origins !== undefined && (!Array.isArray(b.origins) || b.origins.length > MAX_ORIGINS || !b.origins.every(o => typeof o === 'string' && o.startsWith('/')))) fail(400, 'BAD_REQUEST', `origins: expected at most ${MAX_ORIGINS} multiaddr strings`)
  if (b.meta !== undefined && !isStringMap(b.meta)) fail(400, 'BAD_REQUEST', 'meta: expected an object of string values')
  const pin: PsaPin = { cid: cid.toString() }
  if (b.name !== undefined) pin.name = b.name as string
  if (b.origins !== undefined) pin.origins = b.origins as string[]
  if (b.meta !== undefined) pin.meta = b.meta as Record<string, string>
  return { pin, cid }
}

function isStringMap (v: unknown): v is Record<string, string> {
  return v != null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length <= MAX_META_KEYS && Object.values(v).every(x => typeof x === 'string')
}

/** The status a request reports: the pin record's state while it holds the CID for remote requests. */
function statusOf (record: PinRecord | undefined): PsaStatus {
  if (record == null || !record.reasons.includes('remote')) return 'queued'
  return record.state
}

/** The listing's filters from the query (`cid`, `name`, `match`, `status`, `before`, `after`, `limit`, `meta`). */
function parseFilters (q: Record<string, string | undefined>): { cids?: Set<string>, name?: string, match: typeof MATCHES[number], statuses: Set<PsaStatus>, before?: number, after?: number, limit: number, meta?: Record<string, string> } {
  const cids = q.cid != null ? q.cid.split(',').filter(c => c !== '') : undefined
  if (cids != null && cids.length > 10) fail(400, 'BAD_REQUEST', 'cid: at most 10 CIDs')
  const norm = cids?.map(c => { try { return parseCid(c, 'cid').toString() } catch { fail(400, 'BAD_REQUEST', `cid: ${c} is not a CID`) } })
  const match = (q.match ?? 'exact') as typeof MATCHES[number]
  if (!MATCHES.includes(match)) fail(400, 'BAD_REQUEST', `match: expected one of ${MATCHES.join(', ')}`)
  const statuses = new Set((q.status ?? 'pinned').split(',').filter(s => s !== '') as PsaStatus[])
  for (const s of statuses) if (!STATUSES.includes(s)) fail(400, 'BAD_REQUEST', `status: ${s} is not one of ${STATUSES.join(', ')}`)
  const time = (name: 'before' | 'after'): number | undefined => {
    if (q[name] == null) return undefined
    const t = Date.parse(q[name]!)
    if (Number.isNaN(t)) fail(400, 'BAD_REQUEST', `${name}: expected an ISO 8601 timestamp`)
    return t
  }
  const limit = q.limit == null ? 10 : Number(q.limit)
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) fail(400, 'BAD_REQUEST', `limit: expected an integer from 1 to ${MAX_LIMIT}`)
  let meta: Record<string, string> | undefined
  if (q.meta != null) {
    try { meta = JSON.parse(q.meta) } catch { fail(400, 'BAD_REQUEST', 'meta: expected a JSON object of strings') }
    if (!isStringMap(meta)) fail(400, 'BAD_REQUEST', 'meta: expected a JSON object of strings')
  }
  return { ...(norm != null ? { cids: new Set(norm) } : {}), ...(q.name != null ? { name: q.name } : {}), match, statuses, before: time('before'), after: time('after'), limit, ...(meta != null ? { meta } : {}) }
}

function nameMatches (name: string | undefined, want: string, match: typeof MATCHES[number]): boolean {
  if (name == null) return false
  switch (match) {
    case 'exact': return name === want
    case 'iexact': return name.toLowerCase() === want.toLowerCase()
    case 'partial': return name.includes(want)
    case 'ipartial': return name.toLowerCase().includes(want.toLowerCase())
  }
}

/** True when `token` is one of `tokens` (compared in constant time). */
function tokenAccepted (tokens: readonly string[], token: string): boolean {
  const t = Buffer.from(token)
  return tokens.some(k => { const b = Buffer.from(k); return b.length === t.length && timingSafeEqual(b, t) })
}

/** Registers the Pinning Service API's routes under `/psa` on the node's HTTP API. */
export function registerPinningService (app: FastifyInstance, store: ChainStore, tokens: readonly string[]): void {
  const requests = store.kv<PsaRequest>(NAMESPACE)
  const delegates = (): string[] => store.replication?.addresses() ?? []
  const toStatus = (r: PsaRequest): Record<string, unknown> => {
    const record = store.pinRecord(r.pin.cid)
    const status = statusOf(record)
    return { requestid: r.requestid, status, created: r.created, pin: r.pin, delegates: delegates(), ...(status === 'failed' && record?.error != null ? { info: { status_details: record.error } } : {}) }
  }
  const send = (reply: FastifyReply, code: number, body: unknown): FastifyReply => reply.code(code).type('application/json; charset=utf-8').send(JSON.stringify(body))
  /** Holds a request's CID for remote requests (the pin runs in the background: queued → pinning → pinned or failed). */
  const hold = async (cid: CID): Promise<void> => { await store.pin(cid, { reason: 'remote', wait: false }) }
  /** Releases the CID when no other request names it. */
  const release = async (cid: string, except: string): Promise<void> => {
    for await (const [id, r] of requests.iterate()) if (id !== except && r.pin.cid === cid) return
    await store.unpin(cid, { reason: 'remote' })
  }
  const load = async (id: string): Promise<PsaRequest> => (await requests.get(id)) ?? fail(404, 'NOT_FOUND', `no pin request ${id}`)

  void app.register(async psa => {
    psa.addHook('onRequest', async (req: FastifyRequest) => {
      const header = req.headers.authorization ?? ''
      const m = /^Bearer (.+)$/.exec(header)
      if (m == null) fail(401, 'UNAUTHORIZED', 'send Authorization: Bearer <token> (config pinningService.tokens)')
      if (!tokenAccepted(tokens, m[1])) fail(401, 'UNAUTHORIZED', 'the access token is not accepted here')
    })
    psa.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
      if (err instanceof PsaError) return send(reply, err.status, { error: { reason: err.reason, details: err.message } })
      const status = err.statusCode != null && err.statusCode < 500 ? err.statusCode : 500
      return send(reply, status, { error: { reason: status === 500 ? 'INTERNAL_SERVER_ERROR' : 'BAD_REQUEST', details: err.message } })
    })
    psa.get('/pins', async (req, reply) => {
      const f = parseFilters(req.query as Record<string, string | undefined>)
      const found: Array<Record<string, unknown>> = []
      for await (const [, r] of requests.iterate()) {
        if (f.cids != null && !f.cids.has(r.pin.cid)) continue
        if (f.name != null && !nameMatches(r.pin.name, f.name, f.match)) continue
        const created = Date.parse(r.created)
        if (f.before != null && !(created < f.before)) continue
        if (f.after != null && !(created > f.after)) continue
        if (f.meta != null && !Object.entries(f.meta).every(([k, v]) => r.pin.meta?.[k] === v)) continue
        const s = toStatus(r)
        if (f.statuses.has(s.status as PsaStatus)) found.push(s)
      }
      // newest first, as the spec's clients page with `before`
      found.sort((a, b) => Date.parse(b.created as string) - Date.parse(a.created as string))
      return send(reply, 200, { count: found.length, results: found.slice(0, f.limit) })
    })
    psa.post('/pins', async (req, reply) => {
      const { pin, cid } = parsePin(req.body)
      const r: PsaRequest = { requestid: randomUUID(), created: new Date().toISOString(), pin }
      await requests.put(r.requestid, r)
      await hold(cid)
      return send(reply, 202, toStatus(r))
    })
    psa.get('/pins/:requestid', async (req, reply) => send(reply, 200, toStatus(await load((req.params as { requestid: string }).requestid))))
    // replace: a new request for the new pin, the old one removed (its CID released when nothing else holds it)
    psa.post('/pins/:requestid', async (req, reply) => {
      const old = await load((req.params as { requestid: string }).requestid)
      const { pin, cid } = parsePin(req.body)
      const r: PsaRequest = { requestid: randomUUID(), created: new Date().toISOString(), pin }
      await requests.batch([{ type: 'put', key: r.requestid, value: r }, { type: 'del', key: old.requestid }])
      await hold(cid)
      if (old.pin.cid !== pin.cid) await release(old.pin.cid, r.requestid)
      return send(reply, 202, toStatus(r))
    })
    psa.delete('/pins/:requestid', async (req, reply) => {
      const old = await load((req.params as { requestid: string }).requestid)
      await requests.del(old.requestid)
      await release(old.pin.cid, old.requestid)
      return reply.code(202).send()
    })
  }, { prefix: '/psa' })
}
