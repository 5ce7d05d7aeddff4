import { readFile } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import { toJson } from '../codec/json.ts'
import { handleGatewayRequest } from '../gateway/server.ts'
import { dashboardData } from './dashboard.ts'
import { registerPinningService } from './pinning-service.ts'
import type { ChainStore } from '../node/chainstore.ts'
import type { Logger } from '../logger.ts'
import { NetworkDisabledError } from '../replication/errors.ts'
import { MAX_PAGE_LIMIT } from '../config/constants.ts'
import { InvalidQueryError } from '../storage/errors.ts'
import { PIN_STATES, type PinState } from '../pinning/records.ts'
import type { Replicator } from '../replication/replicator.ts'

/** HTTP status of each typed error; anything unnamed here is a 500. */
const STATUS_OF: Record<string, number> = {
  InvalidBlockError: 400,
  InvalidCidError: 400,
  InvalidAddressError: 400,
  InvalidHeightError: 400,
  InvalidCursorError: 400,
  InvalidQueryError: 400,
  BlockNotFoundError: 404,
  TransactionNotFoundError: 404,
  ReceiptNotFoundError: 404,
  StoreClosedError: 503,
  NetworkDisabledError: 503
}

/** A running read API. */
export interface ReadApi {
  url: string
  close: () => Promise<void>
}

/** Longest path parameter accepted (a CID string is under 100 characters). */
const MAX_PARAM_LENGTH = 200
/** Largest request body accepted: the API only reads, so bodies are refused anyway. */
const BODY_LIMIT = 16 * 1024

const DASHBOARD_DIR = new URL('./dashboard/', import.meta.url)
/** The dashboard's files, served as they are (no build step). */
const ASSETS: Record<string, string> = {
  '/': 'index.html',
  '/dashboard.js': 'dashboard.js',
  '/dashboard.css': 'dashboard.css',
  '/favicon.svg': 'favicon.svg',
  // browsers ask for this one whatever the page links: the same icon (an SVG is a valid favicon)
  '/favicon.ico': 'favicon.svg'
}
const TYPES: Record<string, string> = { html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8', svg: 'image/svg+xml' }

/** A query parameter that must be an integer in a range. */
function intParam (q: Record<string, string | undefined>, name: string, min: number, max: number): number | undefined {
  const raw = q[name]
  if (raw == null) return undefined
  const n = Number(raw)
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new InvalidQueryError(`${name}: expected an integer ${min}-${max}, got ${JSON.stringify(raw)}`)
  return n
}

/**
 * The node's HTTP API on fastify: status (with alerts), blocks, transactions,
 * receipts, address history (paginated), peers, validators, reputation, pins,
 * Prometheus `/metrics`, the dashboard at `/` (with its JSON at
 * `/api/dashboard`), and `GET`/`HEAD /ipfs/{cid}`, an IPFS trustless gateway
 * over the blocks held here (src/gateway/server.ts). JSON bodies; typed errors
 * map to 400/404/503 with `{ error, message }`. Bound to loopback unless the
 * config says otherwise.
 */
export async function startReadApi (store: ChainStore, options: { host: string, port: number, logger: Logger }): Promise<ReadApi> {
  const log = options.logger.child({ room: 'api' })
  const assets = new Map<string, { type: string, body: string }>()
  for (const [path, file] of Object.entries(ASSETS)) {
    assets.set(path, { type: TYPES[file.split('.').pop()!], body: await readFile(new URL(file, DASHBOARD_DIR), 'utf8') })
  }
  const app = Fastify({
    bodyLimit: BODY_LIMIT,
    // fastify 5.x: router options under routerOptions (the top-level key is deprecated); no logger, so no request logging to disable
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    logger: false,
    // errors fastify raises before a route runs (a URL it cannot decode, a parameter too long): same body shape as ours
    frameworkErrors: (err: Error & { statusCode?: number, code?: string }, _req, reply: any) => {
      const tooLong = err.code === 'FST_ERR_MAX_PARAM_LENGTH'
      void (reply as FastifyReply).code(err.statusCode ?? 400).type('application/json; charset=utf-8')
        .send(toJson({ error: tooLong ? 'UriTooLong' : 'BadRequest', message: tooLong ? `a path parameter is longer than ${MAX_PARAM_LENGTH} characters` : err.message }))
    }
  })
  const network = (): Replicator => {
    if (store.replication == null) throw new NetworkDisabledError('this node runs without replication (config network.enabled is false)')
    return store.replication
  }
  const json = (reply: FastifyReply, body: unknown): FastifyReply => reply.type('application/json; charset=utf-8').send(toJson(body))
  type Q = Record<string, string | undefined>
  const get = (path: string, handler: (params: Record<string, string>, query: Q) => Promise<unknown>): void => {
    app.get(path, async (req, reply) => json(reply, await handler(req.params as Record<string, string>, req.query as Q)))
  }

  app.setErrorHandler((err: Error & { statusCode?: number }, req, reply) => {
    const status = STATUS_OF[err.name] ?? (err.statusCode != null && err.statusCode < 500 ? err.statusCode : 500)
    if (status === 500) log.error({ err, path: req.url }, 'request failed')
    void json(reply.code(status), { error: status === 500 || STATUS_OF[err.name] != null ? err.name : (err as any).code ?? err.name, message: err.message })
  })
  app.setNotFoundHandler((req, reply) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') { void json(reply.code(405).header('allow', 'GET, HEAD'), { error: 'MethodNotAllowed', message: 'the API only reads: GET and HEAD' }); return }
    void json(reply.code(404), { error: 'NotFound', message: `no route ${req.url.split('?')[0]}` })
  })

  for (const [path, asset] of assets) app.get(path, async (_req, reply) => reply.type(asset.type).header('cache-control', 'no-cache').send(asset.body))
  // liveness and readiness (docs/OPERATIONS.md): 200 or 503, cheap enough for a probe every second
  for (const [path, pick] of [['/healthz', 'live'], ['/readyz', 'ready']] as const) {
    app.get(path, async (_req, reply) => {
      const h = store.health()
      return json(reply.code(h[pick] ? 200 : 503).header('cache-control', 'no-store'), { status: h[pick] ? 'ok' : 'unavailable', ...h })
    })
  }
  get('/status', async () => await store.status())
  get('/blocks/:ref', async ({ ref }) => await store.getBlock(/^\d+$/.test(ref) ? Number(ref) : ref))
  get('/tx/:id', async ({ id }) => await store.getTransaction(id))
  get('/tx/:id/receipt', async ({ id }) => await store.getReceipt(id))
  get('/address/:address/history', async ({ address }, q) => await store.getAddressHistory(address, {
    limit: intParam(q, 'limit', 1, MAX_PAGE_LIMIT),
    cursor: q.cursor,
    reverse: q.reverse === 'true'
  }))
  get('/peers', async () => await network().peers())
  get('/validators', async () => await network().validators())
  get('/reputation', async () => { const r = network().reputation; await r.refresh(); return r.scores() })
  get('/pins', async (_params, q) => {
    const limit = intParam(q, 'limit', 1, MAX_PAGE_LIMIT) ?? MAX_PAGE_LIMIT
    const state = q.state
    if (state != null && !(PIN_STATES as readonly string[]).includes(state)) throw new InvalidQueryError(`state: expected one of ${PIN_STATES.join(', ')}, got ${state}`)
    const out = []
    for await (const p of store.pins({ state: state as PinState | undefined })) { if (out.length >= limit) break; out.push(p) }
    return out
  })
  // the address the API is bound to (port 0 in the config picks a free one): set once listening
  let boundAt = `${options.host}:${options.port}`
  get('/api/dashboard', async () => await dashboardData(store, { api: boundAt }))
  app.get('/metrics', async (_req, reply) => reply.type(store.metrics.registry.contentType).send(await store.metrics.scrape()))
  // the trustless gateway writes its own responses (streamed CARs, 304s, HEAD)
  const gateway = (req: FastifyRequest, reply: FastifyReply): void => {
    reply.hijack()
    const url = new URL(req.raw.url ?? '/', 'http://localhost')
    void handleGatewayRequest({ localBytes: cid => store.localBytes(cid) }, req.raw, reply.raw, url,
      err => { log.error({ err, path: url.pathname }, 'gateway request failed') })
  }
  if (store.config.pinningService.enabled) registerPinningService(app, store, store.config.pinningService.tokens)
  // reads through the API in the audit trail (config audit.reads): the route's pattern and the status, nothing about the caller
  const audit = store.config.audit.reads ? store.audit : null
  if (audit != null) app.addHook('onResponse', async (req, reply) => { audit.append('read', { method: req.method, route: req.routeOptions.url ?? 'none', status: reply.statusCode }) })
  for (const url of ['/ipfs', '/ipfs/*']) app.route({ method: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE'], url, exposeHeadRoute: false, handler: gateway })

  await app.listen({ port: options.port, host: options.host })
  const { port } = app.server.address() as AddressInfo
  const url = `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`
  boundAt = url.slice('http://'.length)
  log.info({ url }, 'read API listening')
  return {
    url,
    close: async () => { app.server.closeAllConnections(); await app.close() }
  }
}
