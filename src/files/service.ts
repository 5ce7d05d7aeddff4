import * as dagCbor from '@ipld/dag-cbor'
import type { UnixFS } from '@helia/unixfs'
import type { CID } from 'multiformats/cid'
import { RAW, cidOf } from '../codec/cid.ts'
import { InvalidBlockError } from '../codec/errors.ts'
import { holdInBatch, type PinReader } from '../pinning/records.ts'
import type { StoreBatch } from '../storage/level.ts'
import type { ImportDeleteLock } from '../storage/lock.ts'
import { FileNotFoundError } from './errors.ts'
import { importSettings, resolveFileSettings, type ImportSettings } from './options.ts'
import type { AddFileOptions, CatOptions, PutBytesOptions } from './types.ts'

/** What the file service is built from. */
export interface FilesInit {
  /** UnixFS over the store's blockstore, loaded on first use (@helia/unixfs and its importer and exporter are ~0.3 s of start-up a store that adds no file does not pay). */
  fs: () => Promise<UnixFS>
  maxBlockBytes: number
  /** The store's write lock, refusing a stopped store. */
  exclusive: <T>(fn: () => Promise<T>) => Promise<T>
  startBatch: () => StoreBatch
  lock: ImportDeleteLock
  readPin: PinReader
  sync: boolean
  /** Called once a root this service pinned is held (remote pinning follows it). */
  onPinned?: (cid: CID) => void
}

/** Bytes and files by CID: single IPLD blocks (putBytes) and UnixFS files (addFile, cat), each held by a pin. */
export class Files {
  readonly #i: FilesInit
  #fs: Promise<UnixFS> | null = null

  constructor (init: FilesInit) {
    this.#i = init
  }

  async #unixfs (): Promise<UnixFS> {
    this.#fs ??= this.#i.fs()
    return await this.#fs
  }

  /** Stores raw bytes (or dag-cbor) as an IPLD block and returns its CID. */
  async putBytes (bytes: Uint8Array, options: PutBytesOptions = {}): Promise<CID> {
    if (!(bytes instanceof Uint8Array)) throw new InvalidBlockError('putBytes: expected a Uint8Array')
    if (bytes.length > this.#i.maxBlockBytes) throw new InvalidBlockError(`putBytes: ${bytes.length} bytes, limit is ${this.#i.maxBlockBytes}; use addFile for large payloads`)
    const codec = options.codec ?? 'raw'
    if (codec === 'dag-cbor') {
      try { dagCbor.decode(bytes) } catch (err) { throw new InvalidBlockError('putBytes: bytes are not valid dag-cbor', { cause: err }) }
    } else if (codec !== 'raw') throw new InvalidBlockError(`putBytes: codec must be raw or dag-cbor, got ${String(codec)}`)
    const cid = cidOf(bytes, codec === 'raw' ? RAW : dagCbor.code)
    options.signal?.throwIfAborted()
    // under the write lock: GC (which holds it) must not sweep a block this pins
    return await this.#i.exclusive(async () => {
      const batch = this.#i.startBatch()
      batch.putBlock(cid, bytes)
      if (options.pin !== false) holdInBatch(batch, this.#i.readPin, cid, 'user', false)
      await batch.write(this.#i.sync)
      if (options.pin !== false) this.#i.onPinned?.(cid)
      return cid
    })
  }

  /**
   * Adds a payload of any size as a UnixFS DAG (standard IPFS file) and pins
   * its root. The options pick a profile (`unixfs-v1-2025` by default;
   * `unixfs-v0-2015` gives Kubo's `ipfs add` CIDs) and override its settings;
   * unknown or out-of-range ones throw `InvalidFileOptionsError` before any
   * byte is read.
   */
  async addFile (content: Uint8Array | AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options: AddFileOptions = {}): Promise<CID> {
    const settings = await importSettings(resolveFileSettings(options, this.#i.maxBlockBytes))
    options.signal?.throwIfAborted()
    return await this.#add(content, settings, options.signal)
  }

  async #add (content: Uint8Array | AsyncIterable<Uint8Array> | Iterable<Uint8Array>, settings: ImportSettings, signal?: AbortSignal): Promise<CID> {
    // a file's blocks land one Helia put at a time before its pin record
    const fs = await this.#unixfs()
    return await this.#i.lock.import(async () => {
      const cid = content instanceof Uint8Array
        ? await fs.addBytes(content, { ...settings, signal })
        : await fs.addByteStream(content as AsyncIterable<Uint8Array>, { ...settings, signal })
      // the pin record's write comes after the blocks in LevelDB's log, so
      // syncing it makes all of them durable too
      const batch = this.#i.startBatch()
      holdInBatch(batch, this.#i.readPin, cid, 'blob', true)
      await batch.write(this.#i.sync)
      this.#i.onPinned?.(cid)
      return cid
    })
  }

  /** Streams a UnixFS file's bytes from local blocks; a block this store does not hold throws `FileNotFoundError`. */
  async * cat (cid: CID, options: CatOptions = {}): AsyncGenerator<Uint8Array> {
    try {
      const fs = await this.#unixfs()
      yield * fs.cat(cid, { ...options, offline: true } as any)
    } catch (err) {
      // Helia says only "Not Found", not which file
      if ((err as Error).name === 'NotFoundError') throw new FileNotFoundError(`cat ${cid.toString()}: a block of this file is not in the store (cat reads local blocks only)`, { cause: err })
      throw err
    }
  }
}
