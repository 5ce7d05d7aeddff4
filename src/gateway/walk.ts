import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import type { CID } from 'multiformats/cid'
import { identity } from 'multiformats/hashes/identity'
import { RAW } from '../codec/cid.ts'
import { linksOf } from '../codec/links.ts'
import { GatewayError, resolveRange, type ByteRange, type Scope } from './request.ts'

/**
 * Which blocks a CAR answer holds: the DAG under a root for a `dag-scope`,
 * and for `entity-bytes` on a UnixFS file only the blocks on the way to the
 * requested bytes. Reads local blocks only.
 */

/** The store surface the gateway reads: local blocks only. */
export interface GatewayBlockSource {
  localBytes: (cid: CID) => Uint8Array | undefined
}

const DAG_PB = dagPb.code
const IDENTITY = identity.code

/** Inclusive offsets inside one node's bytes. */
interface Span { from: bigint, to: bigint }

/** Bytes of a block held here; identity CIDs carry their bytes inline. */
export function blockBytes (source: GatewayBlockSource, cid: CID): Uint8Array | undefined {
  if (cid.multihash.code === IDENTITY) return cid.multihash.digest
  return source.localBytes(cid)
}

export function notFound (cid: CID, root: CID): GatewayError {
  return cid.toString() === root.toString()
    ? new GatewayError(404, 'BlockNotFoundError', `no block ${cid.toString()} on this node`)
    : new GatewayError(404, 'BlockNotFoundError', `the DAG of ${root.toString()} is incomplete on this node: block ${cid.toString()} is missing`)
}

/** CIDs a block links to; a codec whose links cannot be read is a 501. */
function linksOrFail (cid: CID, bytes: Uint8Array): CID[] {
  const links = linksOf(cid, bytes)
  if (links == null) throw new GatewayError(501, 'UnsupportedCodec', `cannot follow links of ${cid.toString()}: codec 0x${cid.code.toString(16)} is not raw, dag-pb or dag-cbor`)
  return links
}

/** The UnixFS node in a dag-pb block (undefined when it holds none); throws when the block is not dag-pb. */
function unixfsOf (bytes: Uint8Array): { node: dagPb.PBNode, fs?: UnixFS } {
  const node = dagPb.decode(bytes)
  try { return { node, fs: node.Data != null ? UnixFS.unmarshal(node.Data) : undefined } } catch { return { node } }
}

const isFile = (fs: UnixFS | undefined): boolean => fs?.type === 'file' || fs?.type === 'raw'

/**
 * The size in bytes of the entity at a root when it reads as one run of
 * bytes (a raw block, a UnixFS file), else undefined (`entity-bytes` is then
 * ignored, as the spec says). Bytes that do not decode have no size.
 */
function byteEntitySize (cid: CID, bytes: Uint8Array): bigint | undefined {
  if (cid.code === RAW) return BigInt(bytes.length)
  if (cid.code !== DAG_PB) return undefined
  let fs: UnixFS | undefined
  try { fs = unixfsOf(bytes).fs } catch { return undefined }
  return fs != null && isFile(fs) ? fs.fileSize() : undefined
}

/**
 * Where `entity` goes from a block (the spec's `dag-scope=entity`): a UnixFS
 * file (or raw node) → its whole DAG, or with a span only the children whose
 * bytes (by `blocksizes`) meet it; a HAMT shard → its sub-shards (not the
 * entries); anything else, UnixFS directory, symlink or non-UnixFS data
 * (dag-cbor chain headers, raw blocks) → nothing, as `block`.
 */
function entityLinksOf (cid: CID, bytes: Uint8Array, span: Span | undefined): Array<[CID, Scope, Span?]> {
  if (cid.code !== DAG_PB) return []
  const { node, fs } = unixfsOf(bytes)
  if (fs == null) return []
  if (isFile(fs)) {
    // without blocksizes for every link the bytes cannot be mapped to children: all of them
    if (span == null || fs.blockSizes.length !== node.Links.length) return node.Links.map(l => [l.Hash, 'all'])
    const out: Array<[CID, Scope, Span?]> = []
    // a node's own data comes first, then each child's bytes in link order
    let start = BigInt(fs.data?.length ?? 0)
    for (let i = 0; i < node.Links.length; i++) {
      const size = fs.blockSizes[i]
      const end = start + size - 1n
      if (size > 0n && end >= span.from && start <= span.to) {
        out.push([node.Links[i].Hash, 'entity', { from: span.from > start ? span.from - start : 0n, to: (span.to < end ? span.to : end) - start }])
      }
      start += size
    }
    return out
  }
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
function linksInScope (cid: CID, bytes: Uint8Array, scope: Scope, span: Span | undefined): Array<[CID, Scope, Span?]> {
  const inline = cid.multihash.code === IDENTITY
  try {
    return scope === 'all' ? linksOrFail(cid, bytes).map(c => [c, 'all']) : entityLinksOf(cid, bytes, span)
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

/**
 * The blocks of a CAR answer, depth-first, each once; 404 when any is
 * missing here. `range` (from `entity-bytes`, with scope `entity`) narrows a
 * UnixFS file or raw root to the blocks that hold those bytes and the nodes
 * above them; on any other root it is ignored; a range with no byte of the
 * file is a 400.
 */
export async function walk (source: GatewayBlockSource, root: CID, scope: Scope, range?: ByteRange): Promise<Array<{ cid: CID, size: number }>> {
  let rootSpan: Span | undefined
  if (scope === 'entity' && range != null) {
    const bytes = blockBytes(source, root)
    if (bytes == null) throw notFound(root, root)
    const size = byteEntitySize(root, bytes)
    const resolved = size != null ? resolveRange(range, size) : 'whole'
    if (resolved !== 'whole') rootSpan = resolved
  }
  const out: Array<{ cid: CID, size: number }> = []
  const emitted = new Set<string>()
  // a block reached again under another scope or span may need other children (dups=n: sent once all the same)
  const expanded = new Set<string>()
  const stack: Array<[CID, Scope, Span?]> = [[root, scope, rootSpan]]
  let steps = 0
  while (stack.length > 0) {
    const [cid, s, span] = stack.pop()!
    const key = cid.toString()
    const how = `${key} ${s} ${span == null ? '' : `${span.from}-${span.to}`}`
    if (expanded.has(how)) continue
    expanded.add(how)
    if (++steps % WALK_SLICE === 0) await new Promise(resolve => setImmediate(resolve))
    const bytes = blockBytes(source, cid)
    if (bytes == null) throw notFound(cid, root)
    if (!emitted.has(key)) {
      emitted.add(key)
      out.push({ cid, size: bytes.length })
    }
    if (s === 'block') continue
    const links = linksInScope(cid, bytes, s, span)
    for (let i = links.length - 1; i >= 0; i--) stack.push(links[i])
  }
  return out
}
