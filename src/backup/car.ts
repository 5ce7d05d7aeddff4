import { createHash } from 'node:crypto'
import * as dagCbor from '@ipld/dag-cbor'
import type { CID } from 'multiformats/cid'
import { streamCar, type CarBlock } from '../codec/car-read.ts'
import { CAR_CHUNK_BYTES } from './constants.ts'
import { BackupCorruptError, BackupTruncatedError } from './errors.ts'
import type { ChunkSink } from './sink.ts'

/** A CAR being written: blocks in order (the root first), then `finish(root)`. */
export interface CarOut {
  put: (cid: CID, bytes: Uint8Array) => Promise<void>
  blocks: number
  bytes: number
  finish: (root: CID) => Promise<{ sha256: Uint8Array, bytes: number }>
  abort: (err: unknown) => Promise<void>
}

function varint (n: number): Uint8Array {
  const out: number[] = []
  while (n >= 0x80) { out.push((n & 0x7f) | 0x80); n = Math.floor(n / 128) }
  out.push(n)
  return Uint8Array.from(out)
}

/**
 * Starts a CARv1 streamed into `sink`: the header (dag-cbor
 * `{ roots, version: 1 }`, as @ipld/car writes it) naming the first block
 * put as the root (every backup CAR starts with its index block, whose CID
 * is known before anything else is written: the writers compute the index
 * pages in a first pass), then one section per block (varint length, CID
 * bytes, block bytes), buffered into chunks of CAR_CHUNK_BYTES. The sha256
 * and size are taken on the way out: nothing is read back.
 */
export function startCar (sink: ChunkSink): CarOut {
  let pending: Uint8Array[] = []
  let pendingBytes = 0
  let root: CID | undefined
  let size = 0
  const hash = createHash('sha256')
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return
    const chunk = Buffer.concat(pending)
    pending = []
    pendingBytes = 0
    hash.update(chunk)
    size += chunk.length
    await sink.push(chunk)
  }
  const car: CarOut = {
    blocks: 0,
    bytes: 0,
    async put (cid, bytes) {
      if (root == null) {
        root = cid
        const header = dagCbor.encode({ roots: [cid], version: 1 })
        pending.push(varint(header.length), header)
        pendingBytes += header.length + 8
      }
      const cidBytes = cid.bytes
      pending.push(varint(cidBytes.length + bytes.length), cidBytes, bytes)
      pendingBytes += cidBytes.length + bytes.length + 10
      car.blocks++
      car.bytes += bytes.length
      if (pendingBytes >= CAR_CHUNK_BYTES) await flush()
    },
    async finish (r) {
      if (root == null || !r.equals(root)) throw new Error(`backup CAR: the root ${r.toString()} must be the first block written`)
      await flush()
      await sink.end()
      return { sha256: new Uint8Array(hash.digest()), bytes: size }
    },
    async abort (err) {
      await sink.abort(err)
    }
  }
  return car
}

export type { CarBlock } from '../codec/car-read.ts'

/**
 * Opens a CAR streamed from a destination: its roots, an iterator of its
 * blocks, and the sha256 and count of every byte read so far. Decoder failures become backup errors
 * naming the file and the block position.
 */
export async function readCar (source: AsyncIterable<Uint8Array>, backup: string, label: string): Promise<{ roots: CID[], blocks: () => AsyncGenerator<CarBlock>, sha256: () => Uint8Array, bytes: () => number }> {
  const hash = createHash('sha256')
  let size = 0
  async function * tapped (): AsyncGenerator<Uint8Array> {
    for await (const chunk of source) { hash.update(chunk); size += chunk.length; yield chunk }
  }
  const car = await streamCar(tapped(), (where, block, truncated, err) => {
    const detail = { backup, file: label, ...(block != null ? { block } : {}) }
    if (truncated) return new BackupTruncatedError(`backup ${backup}: ${label} ends inside ${where} (truncated)`, detail, { cause: err })
    return new BackupCorruptError(`backup ${backup}: ${label}: ${where} is not valid CAR data (${(err as Error)?.message ?? String(err)})`, detail, { cause: err })
  })
  return { ...car, sha256: () => new Uint8Array(hash.copy().digest()), bytes: () => size }
}
