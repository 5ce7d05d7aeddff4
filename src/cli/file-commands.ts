import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { once } from 'node:events'
import { basename } from 'node:path'
import { Option, type Command } from 'commander'
import { FILE_PROFILES } from '../files/constants.ts'
import type { AddFileOptions, FileProfile } from '../files/types.ts'
import type { ChainStore } from '../node/chainstore.ts'
import { InputFileNotFoundError, InvalidInputFileError } from './errors.ts'
import { intOption } from './input.ts'
import { startProgress } from './progress.ts'

/** What the file commands take from the CLI's composition (src/cli/main.ts). */
export interface FileCliContext {
  /** Opens the store of the global options, runs `fn`, stops it. */
  withStore: <T>(fn: (store: ChainStore) => Promise<T>, overrides?: Record<string, unknown>, options?: { create?: boolean }) => Promise<T>
  /** Human text, or the JSON of `data` with `--json`. */
  print: (human: string, data: unknown) => void
}

/** Files at least this large show progress on stderr while they are added. */
const PROGRESS_MIN_BYTES = 16 * 1024 * 1024
const MIB = 1024 * 1024

/** `chainstore add <file>` and `chainstore cat <cid>`. */
export function registerFileCommands (program: Command, ctx: FileCliContext): void {
  registerAdd(program, ctx)
  registerCat(program, ctx)
}

interface AddOptions { profile?: FileProfile, cidVersion?: number, rawLeaves?: boolean, chunkSize?: number, trickle?: boolean }

function registerAdd (program: Command, ctx: FileCliContext): void {
  program.command('add <file>')
    .description('add a file as a UnixFS DAG, pin it and print its CID')
    .addOption(new Option('--profile <name>', 'settings to start from (default unixfs-v1-2025; unixfs-v0-2015 = Kubo\'s ipfs add)').choices(Object.keys(FILE_PROFILES)))
    .option('--cid-version <n>', '0 or 1 (overrides the profile)', intOption(0, 1))
    .option('--raw-leaves', 'leaves as raw blocks (overrides the profile)')
    .option('--no-raw-leaves', 'leaves as dag-pb file nodes (overrides the profile)')
    .option('--chunk-size <bytes>', 'bytes per leaf, up to 1048576 (overrides the profile)', intOption(1))
    .option('--trickle', 'trickle layout instead of balanced')
    .addHelpText('after', [
      '',
      'Progress goes to stderr for files of 16 MiB and more.',
      '',
      'Examples:',
      '  $ chainstore add photo.jpg                           # CIDv1, raw leaves, 1 MiB chunks (unixfs-v1-2025)',
      '  $ chainstore add --profile unixfs-v0-2015 photo.jpg  # the Qm… CID Kubo\'s ipfs add gives',
      '  $ chainstore add --cid-version 0 --no-raw-leaves --chunk-size 262144 photo.jpg'
    ].join('\n'))
    .action(async (file: string, opts: AddOptions) => { await add(ctx, file, opts) })
}

/** The addFile options the flags name; the store checks their values. */
function addFileOptions (opts: AddOptions): AddFileOptions {
  return {
    profile: opts.profile,
    cidVersion: opts.cidVersion as 0 | 1 | undefined,
    rawLeaves: opts.rawLeaves,
    chunkSize: opts.chunkSize,
    layout: opts.trickle === true ? 'trickle' : undefined
  }
}

async function add (ctx: FileCliContext, file: string, opts: AddOptions): Promise<void> {
  const size = await inputFileSize(file)
  const bar = size >= PROGRESS_MIN_BYTES ? startProgress(`add ${basename(file)}`, Math.ceil(size / MIB), 'MiB') : undefined
  let read = 0
  async function * content (): AsyncGenerator<Uint8Array> {
    for await (const chunk of createReadStream(file, { highWaterMark: MIB }) as AsyncIterable<Buffer>) {
      read += chunk.length
      bar?.update(Math.floor(read / MIB))
      yield chunk
    }
  }
  try {
    const cid = await ctx.withStore(async s => await s.addFile(content(), addFileOptions(opts)), {}, { create: true })
    ctx.print(cid.toString(), { cid: cid.toString(), file, bytes: read })
  } finally {
    bar?.stop()
  }
}

/** The size of a regular file the user named, or a typed error saying why it cannot be added. */
async function inputFileSize (file: string): Promise<number> {
  try {
    const s = await stat(file)
    if (!s.isFile()) throw new InvalidInputFileError(`${file} is not a regular file`)
    return s.size
  } catch (err) {
    if ((err as Error).name === 'InvalidInputFileError') throw err
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new InputFileNotFoundError(`${file}: no such file`, { cause: err })
    throw err
  }
}

function registerCat (program: Command, ctx: FileCliContext): void {
  program.command('cat <cid>')
    .description('write the bytes of a file this store holds to stdout')
    .addHelpText('after', '\nReads local blocks only: a file whose blocks are not here is FileNotFoundError (exit 3).\nExample:\n  $ chainstore cat QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o > hello.txt')
    .action(async (cid: string) => {
      await ctx.withStore(async s => {
        for await (const chunk of s.cat(cid)) {
          // wait for the pipe to drain: a slow reader must not make the whole file sit in memory
          if (!process.stdout.write(chunk)) await once(process.stdout, 'drain')
        }
      })
    })
}
