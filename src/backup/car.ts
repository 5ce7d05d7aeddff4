import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { open, rename, rm, stat } from 'node:fs/promises'
import { CarWriter } from '@ipld/car/writer'
import * as dagCbor from '@ipld/dag-cbor'
import type { CID } from 'multiformats/cid'
import { cidOf } from '../codec/cid.ts'
import { streamCar, type CarBlock } from '../codec/car-read.ts'
import { BackupCorruptError, BackupTruncatedError } from './errors.ts'

/** A CAR being written: blocks in order, then `finish(root)` rewrites the header's root and names the file. */
export interface CarOut {
  put: (cid: CID, bytes: Uint8Array) => Promise<void>
  blocks: number
  bytes: number
  finish: (root: CID) => Promise<{ sha256: Uint8Array, bytes: number }>
  abort: () => Promise<void>
}

/** Bytes buffered before one write to the file: CAR sections are small, one fs write each would dominate. */
const WRITE_CHUNK_BYTES = 4 << 20

function varint (n: number): Uint8Array {
  const out: number[] = []
  while (n >= 0x80) { out.push((n & 0x7f) | 0x80); n = Math.floor(n / 128) }
  out.push(n)
  return Uint8Array.from(out)
}

/**
 * Starts a CARv1 at `file` (written as `file.partial`): the header
 * (dag-cbor `{ roots, version: 1 }`, as @ipld/car writes it), then one
 * section per block (varint length, CID bytes, block bytes), buffered into
 * large writes. The root is only known at the end (it indexes what was
 * written), so the header carries a same-length placeholder that `finish`
 * rewrites in place with @ipld/car's `updateRootsInFile`, as state
 * snapshots do.
 */
export function startCar (file: string): CarOut {
  const partial = `${file}.partial`
  const placeholder = cidOf(dagCbor.encode(null))
  const header = dagCbor.encode({ roots: [placeholder], version: 1 })
  let pending: Uint8Array[] = [varint(header.length), header]
  let pendingBytes = header.length + 8
  const opened = open(partial, 'w+')
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return
    const chunk = Buffer.concat(pending)
    pending = []
    pendingBytes = 0
    const fd = await opened
    let off = 0
    while (off < chunk.length) off += (await fd.write(chunk, off, chunk.length - off)).bytesWritten
  }
  const car: CarOut = {
    blocks: 0,
    bytes: 0,
    async put (cid, bytes) {
      const cidBytes = cid.bytes
      pending.push(varint(cidBytes.length + bytes.length), cidBytes, bytes)
      pendingBytes += cidBytes.length + bytes.length + 10
      car.blocks++
      car.bytes += bytes.length
      if (pendingBytes >= WRITE_CHUNK_BYTES) await flush()
    },
    async finish (root) {
      await flush()
      const fd = await opened
      try {
        await CarWriter.updateRootsInFile(fd, [root])
        await fd.sync()
      } finally {
        await fd.close()
      }
      const sha256 = await sha256File(partial)
      await rename(partial, file)
      return { sha256, bytes: (await stat(file)).size }
    },
    async abort () {
      await (await opened.catch(() => undefined))?.close().catch(() => {})
      await rm(partial, { force: true })
    }
  }
  return car
}

/** sha256 of a file's bytes. */
export async function sha256File (file: string): Promise<Uint8Array> {
  const h = createHash('sha256')
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer)
  return new Uint8Array(h.digest())
}

export type { CarBlock } from '../codec/car-read.ts'

/**
 * Opens a CAR for streaming: its roots, an iterator of its blocks and the
 * sha256 of every byte read so far. Decoder failures become backup errors
 * naming the file and the block position.
 */
export async function readCar (file: string, backup: string, label = file): Promise<{ roots: CID[], blocks: () => AsyncGenerator<CarBlock>, sha256: () => Uint8Array }> {
  const hash = createHash('sha256')
  async function * tapped (): AsyncGenerator<Uint8Array> {
    for await (const chunk of createReadStream(file)) { hash.update(chunk as Buffer); yield chunk as Uint8Array }
  }
  const car = await streamCar(tapped(), (where, block, truncated, err) => {
    const detail = { backup, file: label, ...(block != null ? { block } : {}) }
    if (truncated) return new BackupTruncatedError(`backup ${backup}: ${label} ends inside ${where} (truncated)`, detail, { cause: err })
    return new BackupCorruptError(`backup ${backup}: ${label}: ${where} is not valid CAR data (${(err as Error)?.message ?? String(err)})`, detail, { cause: err })
  })
  return { ...car, sha256: () => new Uint8Array(hash.copy().digest()) }
}
