import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { toJson } from '../codec/json.ts'
import { handleGatewayRequest, isGatewayPath } from '../gateway/server.ts'
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

type Handler = (params: string[], query: URLSearchParams) => Promise<unknown>

/**
 * The node's read API: status, blocks, transactions, receipts and address
 * history as JSON; and `GET`/`HEAD /ipfs/{cid}`, an IPFS trustless gateway
 * over the blocks held here (src/gateway/server.ts). Bound to loopback unless
 * the config says otherwise.
 */
export async function startReadApi (store: ChainStore, options: { host: string, port: number, logger: Logger }): Promise<ReadApi> {
  const log = options.logger.child({ room: 'api' })
  const routes: Array<[RegExp, Handler]> = [
    [/^\/status$/, async () => await store.status()],
    [/^\/blocks\/([^/]+)$/, async ([ref]) => await store.getBlock(/^\d+$/.test(ref) ? Number(ref) : ref)],
    [/^\/tx\/([^/]+)$/, async ([id]) => await store.getTransaction(id)],
    [/^\/tx\/([^/]+)\/receipt$/, async ([id]) => await store.getReceipt(id)],
    [/^\/address\/([^/]+)\/history$/, async ([address], q) => await store.getAddressHistory(address, {
      limit: q.has('limit') ? Number(q.get('limit')) : undefined,
      cursor: q.get('cursor') ?? undefined,
      reverse: q.get('reverse') === 'true'
    })],
    [/^\/peers$/, async () => await network().peers()],
    [/^\/validators$/, async () => await network().validators()],
    [/^\/reputation$/, async () => { const r = network().reputation; await r.refresh(); return r.scores() }],
    [/^\/pins$/, async (_params, q) => {
      const limit = q.has('limit') ? Number(q.get('limit')) : MAX_PAGE_LIMIT
      if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE_LIMIT) throw new InvalidQueryError(`limit: expected 1-${MAX_PAGE_LIMIT}, got ${String(q.get('limit'))}`)
      const out = []
      const state = q.get('state') ?? undefined
      if (state != null && !(PIN_STATES as readonly string[]).includes(state)) throw new InvalidQueryError(`state: expected one of ${PIN_STATES.join(', ')}, got ${state}`)
      for await (const p of store.pins({ state: state as PinState | undefined })) { if (out.length >= limit) break; out.push(p) }
      return out
    }]
  ]
  const network = (): Replicator => {
    if (store.replication == null) throw new NetworkDisabledError('this node runs without replication (config network.enabled is false)')
    return store.replication
  }
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost')
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(toJson(body))
    }
    if (isGatewayPath(url.pathname)) {
      await handleGatewayRequest({ localBytes: cid => store.localBytes(cid) }, req, res, url,
        err => { log.error({ err, path: url.pathname }, 'gateway request failed') })
      return
    }
    if (req.method !== 'GET') { send(405, { error: 'MethodNotAllowed', message: 'only GET is served' }); return }
    for (const [pattern, handler] of routes) {
      const m = pattern.exec(url.pathname)
      if (m == null) continue
      try {
        send(200, await handler(m.slice(1).map(decodeURIComponent), url.searchParams))
      } catch (err) {
        const e = err as Error
        const status = STATUS_OF[e.name] ?? 500
        if (status === 500) log.error({ err: e, path: url.pathname }, 'request failed')
        send(status, { error: e.name, message: e.message })
      }
      return
    }
    send(404, { error: 'NotFound', message: `no route ${url.pathname}` })
  }
  const server: Server = createServer((req, res) => { void handle(req, res) })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, () => { server.off('error', reject); resolve() })
  })
  const { port } = server.address() as AddressInfo
  const url = `http://${options.host}:${port}`
  log.info({ url }, 'read API listening')
  return {
    url,
    close: async () => { await new Promise<void>(resolve => { server.close(() => { resolve() }); server.closeAllConnections() }) }
  }
}
