import { createReadStream } from 'node:fs'
import { mkdir, open, readdir, rename, rm, rmdir } from 'node:fs/promises'
import { dirname, join, relative, sep } from 'node:path'
import { BackupNotFoundError, DestinationObjectNotFoundError, InvalidDestinationError } from '../errors.ts'
import type { BackupDestination, BackupObject, DestinationCallOptions } from '../types.ts'
import { checkKey } from './common.ts'

/** Suffix of an object being written; renamed to its key once whole, never listed. */
const PARTIAL = '.partial'

/**
 * A local directory as a backup destination: each key is a file under the
 * root (`<id>/chain.car`), written as `<file>.partial`, synced and renamed,
 * so a file under its real name is always whole. The directory layout is
 * the one backups have always had: one subdirectory per backup.
 */
export class DirDestination implements BackupDestination {
  readonly kind = 'dir' as const
  readonly name: string
  readonly #root: string

  constructor (root: string) {
    this.name = root
    this.#root = root
  }

  /** Creates the directory (writing needs it; listing a missing one is BackupNotFoundError). */
  async prepare (): Promise<void> {
    await mkdir(this.#root, { recursive: true })
  }

  #path (key: string): string {
    if (!checkKey(key)) throw new InvalidDestinationError(`${this.name}: ${JSON.stringify(key)} is not a plain relative key`, this.name)
    return join(this.#root, ...key.split('/'))
  }

  async * list (prefix: string, options: DestinationCallOptions = {}): AsyncGenerator<BackupObject> {
    let entries
    try {
      entries = await readdir(this.#root, { withFileTypes: true, recursive: true })
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new BackupNotFoundError(`no backup directory ${this.#root}`, { destination: this.name }, { cause: err })
      throw err
    }
    const files = entries.filter(e => e.isFile() && !e.name.endsWith(PARTIAL))
      .map(e => relative(this.#root, join(e.parentPath, e.name)).split(sep).join('/'))
      .filter(k => k.startsWith(prefix))
      .sort()
    for (const key of files) {
      options.signal?.throwIfAborted()
      const fh = await open(join(this.#root, ...key.split('/'))).catch(() => null)
      if (fh == null) continue
      try { yield { key, bytes: (await fh.stat()).size } } finally { await fh.close() }
    }
  }

  async write (key: string, body: AsyncIterable<Uint8Array>, options: DestinationCallOptions = {}): Promise<{ bytes: number }> {
    const path = this.#path(key)
    await mkdir(dirname(path), { recursive: true })
    const partial = path + PARTIAL
    const fd = await open(partial, 'w')
    let bytes = 0
    try {
      for await (const chunk of body) {
        options.signal?.throwIfAborted()
        let off = 0
        while (off < chunk.length) off += (await fd.write(chunk, off, chunk.length - off)).bytesWritten
        bytes += chunk.length
      }
      await fd.sync()
    } catch (err) {
      await fd.close().catch(() => {})
      await rm(partial, { force: true })
      throw err
    }
    await fd.close()
    await rename(partial, path)
    return { bytes }
  }

  async * read (key: string, options: DestinationCallOptions = {}): AsyncGenerator<Uint8Array> {
    const path = this.#path(key)
    const stream = createReadStream(path, { signal: options.signal })
    try {
      for await (const chunk of stream) yield chunk as Uint8Array
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new DestinationObjectNotFoundError(`${this.name}: no object ${key}`, this.name, {}, { cause: err })
      throw err
    } finally {
      stream.destroy()
    }
  }

  async delete (keys: string[]): Promise<void> {
    const dirs = new Set<string>()
    for (const key of keys) {
      const path = this.#path(key)
      await rm(path, { force: true })
      await rm(path + PARTIAL, { force: true })
      for (let d = dirname(path); d.startsWith(this.#root) && d !== this.#root; d = dirname(d)) dirs.add(d)
    }
    // the backup's directory goes with its last file
    for (const d of [...dirs].sort((a, b) => b.length - a.length)) await rmdir(d).catch(() => {})
  }

  async close (): Promise<void> {}

  toJSON (): { name: string, kind: string } { return { name: this.name, kind: this.kind } }
}
