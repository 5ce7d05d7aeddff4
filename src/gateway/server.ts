import type { IncomingMessage, ServerResponse } from 'node:http'
import * as dagCbor from '@ipld/dag-cbor'
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import { varint } from 'multiformats'
import { CID } from 'multiformats/cid'
import { identity } from 'multiformats/hashes/identity'
import { parseCid } from '../codec/cid.ts'
import { decodeHeader } from '../codec/decode.ts'
import { linksOf } from '../codec/links.ts'
import type { BlockHeader } from '../codec/types.ts'

/**
 * IPFS trustless gateway (https://specs.ipfs.tech/http-gateways/trustless-gateway/)
 * over the blocks this node holds: `GET`/`HEAD /ipfs/{cid}` with
 * `?format=raw` / `Accept: application/vnd.ipld.raw` (one block) and
 * `?format=car` / `Accept: application/vnd.ipld.car` (a CARv1 rooted at the
 * CID, `dag-scope=block|entity|all`, depth-first, no duplicate blocks).
 *
 * Only local blocks are served (never the network), so the gateway cannot be
 * used as an open proxy. Before a CAR's first byte the whole scope is walked,
 * so a DAG with a block missing here answers 404 instead of a truncated CAR,
 * and `Content-Length` is exact; a block that disappears between the walk and
 * the write (garbage collection) aborts the connection short of that length.
 *
 * `dag-scope=all` follows every link, so from a chain header it includes the
 * parent header and with it the whole chain back to genesis (and answers 404
 * when this node pruned any of it). `dag-scope=entity` is the one to ask for
 * one chain block: a chain header → the header, its tx and receipt pages and
 * what they link to, not the parent; a UnixFS file (or raw leaf) → the whole
 * file; a plain UnixFS directory → the directory block; a HAMT-sharded
 * directory → its shard blocks (not the entries); any other block → the root
 * block alone, as `block`.
 */

/** The store surface the gateway reads: local blocks only. */
export interface GatewayBlockSource {
  localBytes: (cid: CID) => Uint8Array | undefined
}

const MEDIA_RAW = 'application/vnd.ipld.raw'
const MEDIA_CAR = 'application/vnd.ipld.car'
/** What a CAR response actually is: version 1, depth-first order, each block once. */
const CAR_CONTENT_TYPE = `${MEDIA_CAR}; version=1; order=dfs; dups=n`
const IMMUTABLE = 'public, max-age=29030400, immutable'
const DAG_PB = dagPb.code
const DAG_CBOR = dagCbor.code
const IDENTITY = identity.code

type Format = 'raw' | 'car'
type Scope = 'block' | 'entity' | 'all'

/** A request the gateway refuses, with its HTTP status. */
class GatewayError extends Error {
  readonly status: number
  constructor (status: number, name: string, message: string) {
    super(message)
    this.status = status
    this.name = name
  }
}

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
    let cid: CID
    try { cid = parseCid(decodeURIComponent(m[1]), 'gateway path') } catch (err) {
      throw new GatewayError(400, 'InvalidCidError', (err as Error).message)
    }
    const format = negotiate(url.searchParams.get('format'), req.headers.accept)
    const subpath = m[2] ?? ''
    if (subpath !== '' && subpath !== '/') {
      if (format === 'raw') throw new GatewayError(400, 'InvalidPath', 'a block request (format=raw) takes no path: GET /ipfs/{cid}')
      throw new GatewayError(501, 'NotImplemented', 'path traversal inside a DAG is not supported; request the CID at the end of the path')
    }
    const head = req.method === 'HEAD'
    if (format === 'raw') serveRaw(source, cid, req, res, head)
    else await serveCar(source, cid, parseScope(url.searchParams.get('dag-scope')), req, res, head)
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

/**
 * The response format: `?format=` wins over `Accept` (path gateway spec); with
 * neither, or only `*` ranges, 400 (strict trustless mode); an Accept naming
 * only types we cannot produce (CAR version 2, HTML, ...) is 406.
 */
function negotiate (format: string | null, accept: string | undefined): Format {
  if (format != null) {
    if (format === 'raw' || format === 'car') return format
    throw new GatewayError(400, 'UnsupportedFormat', `format=${format.slice(0, 40)} is not served here; this trustless gateway serves format=raw and format=car`)
  }
  if (accept == null || accept.trim() === '') throw new GatewayError(400, 'MissingFormat', 'send ?format=raw|car or Accept: application/vnd.ipld.raw|application/vnd.ipld.car')
  let best: { format: Format, q: number } | undefined
  let onlyWildcards = true
  for (const range of accept.split(',')) {
    const [type, ...params] = range.split(';').map(s => s.trim())
    const p = Object.fromEntries(params.map(kv => { const i = kv.indexOf('='); return [kv.slice(0, i).trim().toLowerCase(), kv.slice(i + 1).trim().replace(/^"|"$/g, '')] }))
    const q = p.q != null ? Number(p.q) : 1
    const t = type.toLowerCase()
    if (t !== '*/*' && t !== 'application/*') onlyWildcards = false
    if (!(q > 0)) continue
    let f: Format | undefined
    if (t === MEDIA_RAW) f = 'raw'
    else if (t === MEDIA_CAR && (p.version == null || p.version === '1')) f = 'car'
    if (f != null && (best == null || q > best.q)) best = { format: f, q }
  }
  if (best != null) return best.format
  if (onlyWildcards) throw new GatewayError(400, 'MissingFormat', 'send ?format=raw|car or Accept: application/vnd.ipld.raw|application/vnd.ipld.car')
  throw new GatewayError(406, 'NotAcceptable', `cannot produce any of: ${accept.slice(0, 120)}; this gateway serves ${MEDIA_RAW} and ${MEDIA_CAR}; version=1`)
}

function parseScope (scope: string | null): Scope {
  if (scope == null || scope === 'all') return 'all'
  if (scope === 'block' || scope === 'entity') return scope
  throw new GatewayError(400, 'InvalidDagScope', `dag-scope=${scope.slice(0, 40)}: expected block, entity or all`)
}

/** Bytes of a block held here; identity CIDs carry their bytes inline. */
function blockBytes (source: GatewayBlockSource, cid: CID): Uint8Array | undefined {
  if (cid.multihash.code === IDENTITY) return cid.multihash.digest
  return source.localBytes(cid)
}

function notFound (cid: CID, root: CID): GatewayError {
  return cid.toString() === root.toString()
    ? new GatewayError(404, 'BlockNotFoundError', `no block ${cid.toString()} on this node`)
    : new GatewayError(404, 'BlockNotFoundError', `the DAG of ${root.toString()} is incomplete on this node: block ${cid.toString()} is missing`)
}

/** Headers shared by raw and CAR answers. */
function commonHeaders (cid: CID, etag: string): Record<string, string> {
  return {
    etag,
    'cache-control': IMMUTABLE,
    'x-content-type-options': 'nosniff',
    'x-ipfs-path': `/ipfs/${cid.toString()}`,
    'x-ipfs-roots': cid.toString(),
    vary: 'Accept'
  }
}

function notModified (req: IncomingMessage, etag: string): boolean {
  const inm = req.headers['if-none-match']
  if (inm == null) return false
  return inm.split(',').map(s => s.trim()).some(t => t === '*' || t === etag || t === `W/${etag}`)
}

/** Writes a 304 (returns false: nothing more to send) or the 200 head of a body. */
function writeHead (req: IncomingMessage, res: ServerResponse, cid: CID, etag: string, type: string, length: number, filename: string): boolean {
  const headers = commonHeaders(cid, etag)
  if (notModified(req, etag)) { res.writeHead(304, headers); res.end(); return false }
  res.writeHead(200, { ...headers, 'content-type': type, 'content-length': String(length), 'content-disposition': `attachment; filename="${filename}"` })
  return true
}

function serveRaw (source: GatewayBlockSource, cid: CID, req: IncomingMessage, res: ServerResponse, head: boolean): void {
  const bytes = blockBytes(source, cid)
  if (bytes == null) throw notFound(cid, cid)
  if (!writeHead(req, res, cid, `"${cid.toString()}.raw"`, MEDIA_RAW, bytes.length, `${cid.toString()}.bin`)) return
  res.end(head ? undefined : bytes)
}

/** CIDs a block links to; a codec whose links cannot be read is a 501. */
function linksOrFail (cid: CID, bytes: Uint8Array): CID[] {
  const links = linksOf(cid, bytes)
  if (links == null) throw new GatewayError(501, 'UnsupportedCodec', `cannot follow links of ${cid.toString()}: codec 0x${cid.code.toString(16)} is not raw, dag-pb or dag-cbor`)
  return links
}

/**
 * Where `entity` goes from a block, and under which scope: a UnixFS file (or
 * raw node) → its whole DAG; a HAMT shard → its sub-shards (not the entries);
 * a chain header → its tx and receipt pages with all they link to, but not
 * the parent header; anything else → nothing (as `block`).
 */
function entityLinksOf (cid: CID, bytes: Uint8Array): Array<[CID, Scope]> {
  if (cid.code === DAG_CBOR) {
    let header: BlockHeader
    try { header = decodeHeader(bytes) } catch { return [] }
    return [...header.txPages, ...header.receiptPages].map(c => [c, 'all'])
  }
  if (cid.code !== DAG_PB) return []
  const node = dagPb.decode(bytes)
  let fs: UnixFS | undefined
  try { fs = node.Data != null ? UnixFS.unmarshal(node.Data) : undefined } catch { fs = undefined }
  if (fs == null) return []
  if (fs.type === 'file' || fs.type === 'raw') return node.Links.map(l => [l.Hash, 'all'])
  if (fs.type === 'hamt-sharded-directory') {
    // a sub-shard's link name is the bucket prefix alone; an entry's is prefix + name
    const width = ((fs.fanout ?? 256n) - 1n).toString(16).length
    return node.Links.filter(l => (l.Name ?? '').length === width).map(l => [l.Hash, 'entity'])
  }
  return []
}

/**
 * The links to follow from a block under a scope. Bytes that do not decode
 * under the CID's codec are the request's problem, not the server's: an
 * identity CID carries them in the request itself, and a stored block's bytes
 * hash to its CID (so they are what was asked for, only not decodable). Both
 * answer 422; an identity CID whose codec we cannot walk is 422 as well (the
 * 501 for stored blocks says this server lacks a feature, and a client would
 * count it against us for its own input).
 */
function linksInScope (cid: CID, bytes: Uint8Array, scope: Scope): Array<[CID, Scope]> {
  const inline = cid.multihash.code === IDENTITY
  try {
    return scope === 'all' ? linksOrFail(cid, bytes).map(c => [c, 'all']) : entityLinksOf(cid, bytes)
  } catch (err) {
    if (err instanceof GatewayError && !(inline && err.status >= 500)) throw err
    const what = inline ? `the bytes inside identity CID ${cid.toString()}` : `the bytes of block ${cid.toString()}`
    const e = new GatewayError(422, inline ? 'InvalidIdentityCid' : 'UndecodableBlock', `${what} do not decode as codec 0x${cid.code.toString(16)}: ${(err as Error).message}`)
    e.cause = err
    throw e
  }
}

/** Blocks walked between two yields to the event loop (local reads are synchronous). */
const WALK_SLICE = 1024

/** The blocks of a CAR answer, depth-first, each once; 404 when any is missing here. */
async function walk (source: GatewayBlockSource, root: CID, scope: Scope): Promise<Array<{ cid: CID, size: number }>> {
  const out: Array<{ cid: CID, size: number }> = []
  const seen = new Set<string>()
  const stack: Array<[CID, Scope]> = [[root, scope]]
  while (stack.length > 0) {
    const [cid, s] = stack.pop()!
    const key = cid.toString()
    if (seen.has(key)) continue
    seen.add(key)
    const bytes = blockBytes(source, cid)
    if (bytes == null) throw notFound(cid, root)
    out.push({ cid, size: bytes.length })
    if (out.length % WALK_SLICE === 0) await new Promise(resolve => setImmediate(resolve))
    if (s === 'block') continue
    const links = linksInScope(cid, bytes, s)
    for (let i = links.length - 1; i >= 0; i--) stack.push(links[i])
  }
  return out
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

async function serveCar (source: GatewayBlockSource, root: CID, scope: Scope, req: IncomingMessage, res: ServerResponse, head: boolean): Promise<void> {
  const blocks = await walk(source, root, scope)
  const header = carHeader(root)
  const length = blocks.reduce((n, b) => n + sectionLength(b.cid, b.size), header.length)
  if (!writeHead(req, res, root, `"${root.toString()}.car.${scope}.dfs.n"`, CAR_CONTENT_TYPE, length, `${root.toString()}.car`)) return
  if (head) { res.end(); return }
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
