import { join } from 'node:path'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { DAG_CBOR, SHA2_256, cidOf } from '../codec/cid.ts'
import { MANIFEST_FILE, MANIFEST_TYPE, MANIFEST_VERSION } from './constants.ts'
import { BackupChainError, BackupManifestError, BackupNotFoundError, DestinationObjectNotFoundError } from './errors.ts'
import type { BackupDestination, BackupFile, BackupInfo, BackupManifest } from './types.ts'

/** Encodes a manifest (dag-cbor; undefined fields dropped) and its CID. */
export function encodeManifest (m: BackupManifest): { bytes: Uint8Array, cid: CID } {
  const bytes = dagCbor.encode(m)
  return { bytes, cid: cidOf(bytes, DAG_CBOR) }
}

/** Where a backup is, as messages and `BackupInfo.dir` name it: the local directory, or `<destination URL>/<id>`. */
export function locationOf (dest: BackupDestination, id: string): string {
  return dest.kind === 'dir' ? join(dest.name, id) : `${dest.name}/${id}`
}

/** The key of a backup's file at its destination. */
export function keyOf (id: string, file: string): string {
  return `${id}/${file}`
}

/** Reads a whole (small) object: a manifest. */
export async function readObject (dest: BackupDestination, key: string, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  for await (const c of dest.read(key, options)) chunks.push(c)
  return Buffer.concat(chunks)
}

const FILE_NAME = /^[a-z]+\.car$/

/** Reads and checks one backup's manifest; BackupManifestError naming what is wrong. */
export async function readManifest (dest: BackupDestination, id: string): Promise<BackupInfo> {
  let bytes: Uint8Array
  try {
    bytes = await readObject(dest, keyOf(id, MANIFEST_FILE))
  } catch (err) {
    if (err instanceof DestinationObjectNotFoundError) throw new BackupManifestError(`backup ${id}: ${MANIFEST_FILE} is missing`, { backup: id, file: MANIFEST_FILE, destination: dest.name }, { cause: err })
    throw err
  }
  const manifestCid = cidOf(bytes, DAG_CBOR)
  return { id, dir: locationOf(dest, id), destination: dest.name, manifestCid, manifest: decodeManifest(bytes, id) }
}

function fail (id: string, what: string, cause?: unknown): never {
  throw new BackupManifestError(`backup ${id}: ${MANIFEST_FILE}: ${what}`, { backup: id, file: MANIFEST_FILE }, cause != null ? { cause } : undefined)
}

function isHeight (v: unknown): v is number { return Number.isSafeInteger(v) && (v as number) >= 0 }

/** Decodes a manifest and checks every field's shape. */
export function decodeManifest (bytes: Uint8Array, id: string): BackupManifest {
  let v: any
  try { v = dagCbor.decode(bytes) } catch (err) { fail(id, 'does not decode as dag-cbor (corrupted)', err) }
  if (v == null || typeof v !== 'object') fail(id, 'not a map')
  if (v.type !== MANIFEST_TYPE || v.version !== MANIFEST_VERSION) fail(id, `not a ${MANIFEST_TYPE} v${MANIFEST_VERSION} manifest`)
  if (v.kind !== 'full' && v.kind !== 'incremental') fail(id, `kind ${String(v.kind)}`)
  if (!isHeight(v.created)) fail(id, 'created is not a time')
  const cidOrNull = (x: unknown, what: string): CID | null => {
    if (x == null) return null
    const c = CID.asCID(x)
    if (c == null) fail(id, `${what} is not a CID`)
    return c
  }
  const previous = cidOrNull(v.previous, 'previous')
  if ((v.kind === 'full') !== (previous == null)) fail(id, v.kind === 'full' ? 'a full backup links a previous manifest' : 'an incremental backup does not link its previous manifest')
  if (previous != null && (previous.code !== DAG_CBOR || previous.multihash.code !== SHA2_256)) fail(id, 'previous is not a dag-cbor sha2-256 CID')
  for (const f of ['from', 'to', 'stateHeight'] as const) if (v[f] != null && !isHeight(v[f])) fail(id, `${f} is not a height`)
  if ((v.from == null) !== (v.to == null) || (v.from != null && v.from > v.to)) fail(id, `height range ${String(v.from)}..${String(v.to)}`)
  for (const f of ['stateRoots', 'blocks', 'bytes'] as const) if (!isHeight(v[f])) fail(id, `${f} is not a count`)
  if (!Number.isSafeInteger(v.finalized) || v.finalized < -1) fail(id, 'finalized is not a height')
  let head: BackupManifest['head'] = null
  if (v.head != null) {
    const c = CID.asCID(v.head.cid)
    if (c == null || !isHeight(v.head.height)) fail(id, 'head is not { height, cid }')
    head = { height: v.head.height, cid: c }
  }
  if (typeof v.storeId !== 'string' && v.storeId != null) fail(id, 'storeId is not a string')
  if (!Array.isArray(v.files)) fail(id, 'files is not a list')
  const files: BackupFile[] = v.files.map((f: any, i: number) => {
    if (f == null || typeof f.name !== 'string' || !FILE_NAME.test(f.name)) fail(id, `files[${i}].name is not a CAR file name`)
    if (f.kind !== 'chain' && f.kind !== 'state' && f.kind !== 'pins') fail(id, `files[${i}].kind ${String(f.kind)}`)
    const root = CID.asCID(f.root)
    if (root == null) fail(id, `files[${i}].root is not a CID`)
    if (!(f.sha256 instanceof Uint8Array) || f.sha256.length !== 32) fail(id, `files[${i}].sha256 is not 32 bytes`)
    if (!isHeight(f.bytes) || !isHeight(f.blocks)) fail(id, `files[${i}] counts`)
    return { name: f.name, kind: f.kind, root, sha256: f.sha256, bytes: f.bytes, blocks: f.blocks }
  })
  return {
    type: v.type,
    version: v.version,
    kind: v.kind,
    created: v.created,
    storeId: v.storeId ?? null,
    previous,
    from: v.from ?? null,
    to: v.to ?? null,
    head,
    finalized: v.finalized,
    stateRoot: cidOrNull(v.stateRoot, 'stateRoot'),
    stateHeight: v.stateHeight ?? null,
    stateRoots: v.stateRoots,
    blocks: v.blocks,
    bytes: v.bytes,
    files
  }
}

/** Ids of the backups at a destination: those whose manifest exists (it is written last, so a backup being written, or cut short, has none). */
export async function backupIds (dest: BackupDestination, options: { signal?: AbortSignal } = {}): Promise<string[]> {
  const out: string[] = []
  for await (const o of dest.list('', options)) {
    const [id, file, ...rest] = o.key.split('/')
    // <id>.partial: a directory an older version wrote into before renaming it
    if (file === MANIFEST_FILE && rest.length === 0 && !id.endsWith('.partial')) out.push(id)
  }
  return out.sort()
}

/** Backups at a destination, oldest first; with `strict` a manifest that does not read throws, otherwise it is left out. */
export async function scanBackups (dest: BackupDestination, options: { strict?: boolean, signal?: AbortSignal } = {}): Promise<BackupInfo[]> {
  const out: BackupInfo[] = []
  for (const id of await backupIds(dest, options)) {
    try {
      out.push(await readManifest(dest, id))
    } catch (err) {
      if (options.strict === true || !(err instanceof BackupManifestError)) throw err
    }
  }
  return out.sort((a, b) => a.manifest.created - b.manifest.created || (a.id < b.id ? -1 : 1))
}

/** Finds a backup by directory name or manifest CID. */
export function findBackup (list: BackupInfo[], id: string, root: string): BackupInfo {
  const hit = list.find(b => b.id === id || b.manifestCid.toString() === id)
  if (hit == null) throw new BackupNotFoundError(`no backup ${id} in ${root}`, { backup: id, destination: root })
  return hit
}

/**
 * The chain of backups that ends at `last`: the full backup it starts from,
 * then each incremental in order. Every `previous` must name a manifest in
 * the directory by its CID, and each incremental must start right above
 * the height its previous backup ends at, on the head it recorded.
 */
export function chainOf (list: BackupInfo[], last: BackupInfo): BackupInfo[] {
  const byCid = new Map(list.map(b => [b.manifestCid.toString(), b]))
  const chain = [last]
  const seen = new Set<string>([last.manifestCid.toString()])
  let cur = last
  while (cur.manifest.previous != null) {
    const prevCid = cur.manifest.previous.toString()
    const prev = byCid.get(prevCid)
    if (prev == null) throw new BackupChainError(`backup ${cur.id}: its previous manifest ${prevCid} is not at the destination (deleted, or its manifest was altered)`, { backup: cur.id, file: MANIFEST_FILE, cid: prevCid })
    if (seen.has(prevCid)) throw new BackupChainError(`backup ${cur.id}: the manifest chain loops at ${prevCid}`, { backup: cur.id })
    seen.add(prevCid)
    const expectFrom = prev.manifest.to == null ? 0 : prev.manifest.to + 1
    if (cur.manifest.from != null && cur.manifest.from !== expectFrom) {
      throw new BackupChainError(`backup ${cur.id}: starts at height ${cur.manifest.from}, its previous backup ${prev.id} ends at ${String(prev.manifest.to)}`, { backup: cur.id })
    }
    if (prev.manifest.storeId != null && cur.manifest.storeId != null && prev.manifest.storeId !== cur.manifest.storeId) {
      throw new BackupChainError(`backup ${cur.id}: taken from store ${cur.manifest.storeId}, its previous backup ${prev.id} from store ${prev.manifest.storeId}`, { backup: cur.id })
    }
    chain.unshift(prev)
    cur = prev
  }
  return chain
}
