import type { IncomingMessage, ServerResponse } from 'node:http'
import * as dagCbor from '@ipld/dag-cbor'
import { varint } from 'multiformats'
import type { CID } from 'multiformats/cid'
import { CAR_SERVED, GatewayError, MEDIA_CAR, MEDIA_RAW, negotiate, onlyIfCached, parseGatewayCid, parseScope, rangeText, type ByteRange, type Scope } from './request.ts'
import { blockBytes, notFound, walk, type GatewayBlockSource } from './walk.ts'

export type { GatewayBlockSource } from './walk.ts'

/**
 * IPFS trustless gateway (https://specs.ipfs.tech/http-gateways/trustless-gateway/)
 * over the blocks this node holds: `GET`/`HEAD /ipfs/{cid}` (the CID in any
 * multibase) with `?format=raw` / `Accept: application/vnd.ipld.raw` (one
 * block) and `?format=car` / `Accept: application/vnd.ipld.car` (a CARv1
 * rooted at the CID, `dag-scope=block|entity|all`, `entity-bytes=from:to`,
 * depth-first, no duplicate blocks; `car-version` other than 1 is a 406, as
 * `version=2` in `Accept` is). A format chosen by `Accept` is answered with a
 * `Content-Location` naming it in the query, for caches. Request parsing is
 * in request.ts, the choice of blocks in walk.ts.
 *
 * Only local blocks are served (never the network), so the gateway cannot be
 * used as an open proxy; with `Cache-Control: only-if-cached` a block missing
 * here is a 412 (no body) instead of a 404. Before a CAR's first byte the
 * whole scope is walked, so a DAG with a block missing here answers 404
 * instead of a truncated CAR, and `Content-Length` is exact; a block that
 * disappears between the walk and the write (garbage collection) aborts the
 * connection short of that length.
 *
 * `dag-scope=all` follows every link, so from a chain header it includes the
 * parent header and with it the whole chain back to genesis (and answers 404
 * when this node pruned any of it). `dag-scope=entity` follows the spec: a
 * UnixFS file (or raw leaf) → the whole file, or with `entity-bytes` only the
 * blocks holding those bytes; a plain UnixFS directory → the directory block;
 * a HAMT-sharded directory → its shard blocks (not the entries); non-UnixFS
 * data (a dag-cbor chain header, an eth-* codec block) → the block alone, as `block`.
 */

/** What a CAR response actually is: version 1, depth-first order, each block once. */
const CAR_CONTENT_TYPE = `${MEDIA_CAR}; version=${CAR_SERVED.version}; order=${CAR_SERVED.order}; dups=${CAR_SERVED.dups}`
const IMMUTABLE = 'public, max-age=29030400, immutable'

/** True when the path is the gateway's (`/ipfs/...`). */
export function isGatewayPath (pathname: string): boolean {
  return pathname === '/ipfs' || pathname.startsWith('/ipfs/')
}

/**
 * Answers one `/ipfs/...` request (GET or HEAD; anything else is 405).
 * Never throws: every failure becomes a JSON error response.
 */
export async function handleGatewayRequest (source: GatewayBlockSource, req: IncomingMessage, res: ServerResponse, url: URL, onError?: (err: Error) => void): Promise<void> {
  try {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD')
      throw new GatewayError(405, 'MethodNotAllowed', 'the gateway serves only GET and HEAD')
    }
    const m = /^\/ipfs\/([^/]+)(\/.*)?$/.exec(url.pathname)
    if (m == null) throw new GatewayError(400, 'InvalidPath', 'expected /ipfs/{cid}')
    const cid = parseGatewayCid(m[1])
    const { format, contentLocation } = negotiate(url, req.headers.accept)
    const subpath = m[2] ?? ''
    if (subpath !== '' && subpath !== '/') {
      if (format === 'raw') throw new GatewayError(400, 'InvalidPath', 'a block request (format=raw) takes no path: GET /ipfs/{cid}')
      throw new GatewayError(501, 'NotImplemented', 'path traversal inside a DAG is not supported; request the CID at the end of the path')
    }
    const answer: Answer = { req, res, cid, head: req.method === 'HEAD', contentLocation }
    try {
      if (format === 'raw') serveRaw(source, answer)
      else await serveCar(source, answer, parseScope(url.searchParams))
    } catch (err) {
      // only-if-cached: what is not held here is a precondition failure, not an absence (path gateway spec)
      if (err instanceof GatewayError && err.status === 404 && !res.headersSent && onlyIfCached(req.headers['cache-control'])) {
        res.writeHead(412, { 'content-length': '0' })
        res.end()
        return
      }
      throw err
    }
  } catch (err) {
    const e = err instanceof GatewayError
      ? err
      : new GatewayError((err as Error).name === 'StoreClosedError' ? 503 : 500, (err as Error).name ?? 'Error', (err as Error).message)
    if (e.status >= 500 && e.status !== 501) onError?.(err as Error)
    if (res.headersSent) { res.destroy(e); return }
    const body = JSON.stringify({ error: e.name, message: e.message })
    res.writeHead(e.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-cache' })
    res.end(req.method === 'HEAD' ? undefined : body)
  }
}

/** One request being answered. */
interface Answer {
  req: IncomingMessage
  res: ServerResponse
  cid: CID
  head: boolean
  /** Where the same answer lives with `?format=` (the format came from `Accept`), or null. */
  contentLocation: string | null
}

/** Headers shared by raw and CAR answers, 200 and 304 alike (RFC 9110 15.4.5). */
function commonHeaders (a: Answer, etag: string): Record<string, string> {
  const headers: Record<string, string> = {
    etag,
    'cache-control': IMMUTABLE,
    'x-content-type-options': 'nosniff',
    'x-ipfs-path': `/ipfs/${a.cid.toString()}`,
    'x-ipfs-roots': a.cid.toString(),
    vary: 'Accept'
  }
  if (a.contentLocation != null) headers['content-location'] = a.contentLocation
  return headers
}

function notModified (req: IncomingMessage, etag: string): boolean {
  const inm = req.headers['if-none-match']
  if (inm == null) return false
  return inm.split(',').map(s => s.trim()).some(t => t === '*' || t === etag || t === `W/${etag}`)
}

/** Writes a 304 (returns false: nothing more to send) or the 200 head of a body. */
function writeHead (a: Answer, etag: string, type: string, length: number, filename: string): boolean {
  const headers = commonHeaders(a, etag)
  if (notModified(a.req, etag)) { a.res.writeHead(304, headers); a.res.end(); return false }
  a.res.writeHead(200, { ...headers, 'content-type': type, 'content-length': String(length), 'content-disposition': `attachment; filename="${filename}"` })
  return true
}

function serveRaw (source: GatewayBlockSource, a: Answer): void {
  const { cid } = a
  const bytes = blockBytes(source, cid)
  if (bytes == null) throw notFound(cid, cid)
  if (!writeHead(a, `"${cid.toString()}.raw"`, MEDIA_RAW, bytes.length, `${cid.toString()}.bin`)) return
  a.res.end(a.head ? undefined : bytes)
}

function carHeader (root: CID): Uint8Array {
  const header = dagCbor.encode({ version: 1, roots: [root] })
  const out = new Uint8Array(varint.encodingLength(header.length) + header.length)
  varint.encodeTo(header.length, out, 0)
  out.set(header, varint.encodingLength(header.length))
  return out
}

function sectionLength (cid: CID, size: number): number {
  const n = cid.bytes.length + size
  return varint.encodingLength(n) + n
}

async function serveCar (source: GatewayBlockSource, a: Answer, { scope, range }: { scope: Scope, range?: ByteRange }): Promise<void> {
  const { cid: root, res } = a
  const blocks = await walk(source, root, scope, range)
  const header = carHeader(root)
  const length = blocks.reduce((n, b) => n + sectionLength(b.cid, b.size), header.length)
  // the Etag names every parameter that shapes the CAR (spec: scope and entity-bytes)
  const etag = `"${root.toString()}.car.${scope}${range != null ? `.bytes=${rangeText(range)}` : ''}.${CAR_SERVED.order}.${CAR_SERVED.dups}"`
  if (!writeHead(a, etag, CAR_CONTENT_TYPE, length, `${root.toString()}.car`)) return
  if (a.head) { res.end(); return }
  await write(res, header)
  for (const { cid, size } of blocks) {
    const bytes = blockBytes(source, cid)
    if (bytes == null || bytes.length !== size) {
      // removed since the walk: end short of Content-Length so the client sees a truncated CAR
      res.destroy(new Error(`block ${cid.toString()} vanished while its CAR was being written`))
      return
    }
    const n = cid.bytes.length + bytes.length
    const prefix = new Uint8Array(varint.encodingLength(n))
    varint.encodeTo(n, prefix, 0)
    await write(res, prefix)
    await write(res, cid.bytes)
    await write(res, bytes)
  }
  res.end()
}

/** Writes with backpressure; rejects when the client goes away. */
async function write (res: ServerResponse, chunk: Uint8Array): Promise<void> {
  if (res.destroyed) throw new Error('client disconnected')
  if (res.write(chunk)) return
  await new Promise<void>((resolve, reject) => {
    const done = (err?: Error): void => { res.off('drain', ok); res.off('close', closed); if (err != null) reject(err); else resolve() }
    const ok = (): void => { done() }
    const closed = (): void => { done(new Error('client disconnected')) }
    res.once('drain', ok)
    res.once('close', closed)
  })
}
