import { createReadStream, createWriteStream } from 'node:fs'
import { open, rename, rm, stat } from 'node:fs/promises'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { CarWriter } from '@ipld/car/writer'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { equals } from 'uint8arrays/equals'
import { DAG_CBOR, SHA2_256, bytesMatchCid, cidOf } from '../codec/cid.ts'
import { streamCar, type CarBlock } from '../codec/car-read.ts'
import { startBatch } from '../storage/level.ts'
import type { AbortOptions } from '../storage/types.ts'
import { stateNodeCid } from '../codec/links.ts'
import { SNAPSHOT_IMPORT_BATCH, SNAPSHOT_TYPE, SNAPSHOT_VERSION } from './constants.ts'
import { SnapshotCorruptError, SnapshotIncompleteError, SnapshotManifestError, SnapshotTruncatedError, UnknownStateHeightError } from './errors.ts'
import { EMPTY_ROOT_HASH, hex, isStateNodeCid } from './keys.ts'
import type { StateStore } from './store.ts'
import type { CommitHook } from './types.ts'
import { walkNodes } from './walk.ts'

/** The manifest block (dag-cbor, sha2-256): the CAR's only root, linking the state root. */
export interface SnapshotManifest {
  type: typeof SNAPSHOT_TYPE
  version: number
  height: number
  /** The state root (eth-state-trie, keccak-256). */
  stateRoot: CID
  /** Trie nodes in the file (the manifest not counted). */
  nodes: number
  /** Bytes of those nodes. */
  bytes: number
}

/** What an export wrote. */
export interface SnapshotInfo extends SnapshotManifest {
  manifestCid: CID
  file: string
  fileBytes: number
}

/** Progress of an export (`write`) or an import (`read`, then `check` of the DAG from the root). */
export type SnapshotProgress = (p: { phase: 'write' | 'read' | 'check', nodes: number, bytes: number, totalBytes?: number }) => void

const PROGRESS_EVERY = 1000

/**
 * Writes the state at `height` as a CARv1 file: every trie node under the
 * root, parents first, then the manifest, which is the CAR's root. The
 * manifest's CID is only known at the end (it counts the nodes), so the
 * header is written with a placeholder of the same length and rewritten in
 * place; the file appears under its name only once complete.
 */
export async function exportSnapshot (state: StateStore, height: number, file: string, options: AbortOptions & { onProgress?: SnapshotProgress } = {}): Promise<SnapshotInfo> {
  const root = await state.rootAt(height)
  if (root == null) throw new UnknownStateHeightError(`snapshot: no state root recorded at height ${height}`)
  const partial = `${file}.partial`
  // the CID of any dag-cbor sha2-256 block has the length the manifest's will have
  const placeholder = cidOf(dagCbor.encode(null))
  const { writer, out } = CarWriter.create([placeholder])
  const written = pipeline(Readable.from(out), createWriteStream(partial))
  let nodes = 0
  let bytes = 0
  try {
    try {
      for await (const n of state.nodesAt(height, options)) {
        await writer.put(n)
        nodes++
        bytes += n.bytes.length
        if (nodes % PROGRESS_EVERY === 0) options.onProgress?.({ phase: 'write', nodes, bytes })
      }
      const manifest: SnapshotManifest = { type: SNAPSHOT_TYPE, version: SNAPSHOT_VERSION, height, stateRoot: root, nodes, bytes }
      const manifestBytes = dagCbor.encode(manifest)
      const manifestCid = cidOf(manifestBytes, DAG_CBOR)
      await writer.put({ cid: manifestCid, bytes: manifestBytes })
      await writer.close()
      await written
      const fd = await open(partial, 'r+')
      try {
        await CarWriter.updateRootsInFile(fd, [manifestCid])
        await fd.sync()
      } finally {
        await fd.close()
      }
      await rename(partial, file)
      options.onProgress?.({ phase: 'write', nodes, bytes })
      return { ...manifest, manifestCid, file, fileBytes: (await stat(file)).size }
    } catch (err) {
      await writer.close().catch(() => {})
      await written.catch(() => {})
      throw err
    }
  } catch (err) {
    await rm(partial, { force: true })
    throw err
  }
}

/**
 * Restores a snapshot into a state store: re-hashes every block against its
 * CID, checks that every node under the manifest's root is in the file and
 * that every node in the file is under it, checks the manifest's counts, then
 * adopts the root at the manifest's height (`onCommit` adds the caller's
 * entries, a pin, to that batch). A bad file is refused with a SnapshotError
 * subclass naming what is wrong; verified blocks written before the refusal
 * are unpinned, and GC removes them.
 */
export async function importSnapshot (file: string, into: StateStore, options: AbortOptions & { onProgress?: SnapshotProgress, onCommit?: CommitHook } = {}): Promise<SnapshotManifest> {
  const { db, blocks } = into.storage
  const totalBytes = (await stat(file)).size
  const seen = new Set<string>()
  let manifest: SnapshotManifest | undefined
  let nodes = 0
  let bytes = 0
  let batch = startBatch(db, blocks)
  const { manifestCid, iterate } = await openCar(file)
  for await (const { cid, bytes: block, index } of iterate()) {
    options.signal?.throwIfAborted()
    if (cid.equals(manifestCid)) {
      if (!bytesMatchCid(cid, block)) throw new SnapshotCorruptError(`snapshot ${file}: manifest block ${cid.toString()} (block ${index}) does not hash to its CID`)
      manifest ??= decodeManifest(block, file)
      continue
    }
    if (!isStateNodeCid(cid)) throw new SnapshotCorruptError(`snapshot ${file}: block ${index} has CID ${cid.toString()}, not an eth-state-trie keccak-256 node`)
    if (!bytesMatchCid(cid, block)) throw new SnapshotCorruptError(`snapshot ${file}: block ${index} (${cid.toString()}) does not hash to its CID (corrupted bytes)`)
    const key = hex(cid.multihash.digest)
    if (seen.has(key)) continue
    seen.add(key)
    batch.putBlock(cid, block)
    nodes++
    bytes += block.length
    if (batch.length >= SNAPSHOT_IMPORT_BATCH) { await batch.write(false); batch = startBatch(db, blocks) }
    if (nodes % PROGRESS_EVERY === 0) options.onProgress?.({ phase: 'read', nodes, bytes, totalBytes })
  }
  await batch.write(false)
  options.onProgress?.({ phase: 'read', nodes, bytes, totalBytes })
  if (manifest == null) throw new SnapshotTruncatedError(`snapshot ${file}: the manifest block ${manifestCid.toString()} is not in the file (it is written last: the file is truncated)`)

  // the DAG from the root: every node in the file, none missing, none extra
  let reached = 0
  let reachedBytes = 0
  const rootHash = manifest.stateRoot.multihash.digest
  const read = async (hash: Uint8Array): Promise<Uint8Array> => {
    if (!seen.has(hex(hash))) throw new SnapshotIncompleteError(`snapshot ${file}: trie node ${stateNodeCid(hash).toString()} under root ${manifest!.stateRoot.toString()} is not in the file`)
    return await into.getNode(stateNodeCid(hash))
  }
  if (equals(rootHash, EMPTY_ROOT_HASH) && !seen.has(hex(rootHash))) throw new SnapshotIncompleteError(`snapshot ${file}: the empty root's node is not in the file`)
  for await (const n of walkNodes(read, rootHash)) {
    options.signal?.throwIfAborted()
    reached++
    reachedBytes += n.bytes.length
    if (reached % PROGRESS_EVERY === 0) options.onProgress?.({ phase: 'check', nodes: reached, bytes: reachedBytes, totalBytes: bytes })
  }
  options.onProgress?.({ phase: 'check', nodes: reached, bytes: reachedBytes, totalBytes: bytes })
  if (reached !== seen.size) throw new SnapshotCorruptError(`snapshot ${file}: ${seen.size - reached} of its ${seen.size} trie nodes are not under the root ${manifest.stateRoot.toString()}`)
  if (manifest.nodes !== reached || manifest.bytes !== reachedBytes) {
    throw new SnapshotManifestError(`snapshot ${file}: the manifest counts ${manifest.nodes} nodes / ${manifest.bytes} bytes, the file holds ${reached} / ${reachedBytes}`)
  }
  await into.adoptRoot(manifest.height, manifest.stateRoot, options)
  return manifest
}

/** Reads and checks a snapshot's manifest (streams the file up to it; verifies nothing else). */
export async function readSnapshotManifest (file: string): Promise<SnapshotManifest & { manifestCid: CID }> {
  const { manifestCid, iterate } = await openCar(file)
  for await (const { cid, bytes } of iterate()) {
    if (!cid.equals(manifestCid)) continue
    if (!bytesMatchCid(cid, bytes)) throw new SnapshotCorruptError(`snapshot ${file}: manifest block ${cid.toString()} does not hash to its CID`)
    return { ...decodeManifest(bytes, file), manifestCid }
  }
  throw new SnapshotTruncatedError(`snapshot ${file}: the manifest block ${manifestCid.toString()} is not in the file (truncated)`)
}

/** Opens a CAR: its one root (the manifest's CID) and an iterator of its blocks; decoder failures become snapshot errors. */
async function openCar (file: string): Promise<{ manifestCid: CID, iterate: () => AsyncGenerator<CarBlock> }> {
  const car = await streamCar(createReadStream(file), (where, _index, truncated, err) => truncated
    ? new SnapshotTruncatedError(`snapshot ${file}: the file ends inside ${where} (truncated)`, { cause: err })
    : new SnapshotCorruptError(`snapshot ${file}: ${where} is not valid CAR data (${(err as Error)?.message ?? String(err)})`, { cause: err }))
  if (car.roots.length !== 1) throw new SnapshotManifestError(`snapshot ${file}: expected one root (the manifest), found ${car.roots.length}`)
  const manifestCid = car.roots[0]
  if (manifestCid.version !== 1 || manifestCid.code !== DAG_CBOR || manifestCid.multihash.code !== SHA2_256) throw new SnapshotManifestError(`snapshot ${file}: root ${manifestCid.toString()} is not a dag-cbor sha2-256 manifest`)
  return { manifestCid, iterate: car.blocks }
}

function decodeManifest (bytes: Uint8Array, file: string): SnapshotManifest {
  let v: any
  try {
    v = dagCbor.decode(bytes)
  } catch (err) {
    throw new SnapshotManifestError(`snapshot ${file}: the manifest does not decode`, { cause: err })
  }
  const root = v?.stateRoot != null ? CID.asCID(v.stateRoot) : null
  if (v == null || v.type !== SNAPSHOT_TYPE || v.version !== SNAPSHOT_VERSION) throw new SnapshotManifestError(`snapshot ${file}: not a ${SNAPSHOT_TYPE} v${SNAPSHOT_VERSION} manifest`)
  if (root == null || !isStateNodeCid(root)) throw new SnapshotManifestError(`snapshot ${file}: the manifest's stateRoot is not an eth-state-trie keccak-256 CID`)
  for (const f of ['height', 'nodes', 'bytes'] as const) {
    if (!Number.isSafeInteger(v[f]) || v[f] < 0) throw new SnapshotManifestError(`snapshot ${file}: manifest ${f} is not a non-negative integer`)
  }
  return { type: SNAPSHOT_TYPE, version: v.version, height: v.height, stateRoot: root, nodes: v.nodes, bytes: v.bytes }
}
