import { execFile } from 'node:child_process'
import { access, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tempDir } from './helpers/store.ts'

const CLI = 'src/cli/main.ts'

/** Runs the CLI; stdout as bytes (cat writes binary). */
async function cli (args: string[]): Promise<{ code: number, stdout: Buffer, stderr: string }> {
  return await new Promise(resolve => {
    execFile(process.execPath, [CLI, ...args], { timeout: 120_000, encoding: 'buffer', maxBuffer: 128 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err == null ? 0 : (err as { code?: number }).code ?? 1, stdout, stderr: stderr.toString() })
    })
  })
}

/** The generator test/files.test.ts computed its reference CIDs over (xorshift32, low byte). */
function seededBytes (size: number, seed = 0x2545f491): Uint8Array {
  const out = new Uint8Array(size)
  let x = seed >>> 0
  for (let i = 0; i < size; i++) { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; out[i] = x & 0xff }
  return out
}

/** Kubo's default `ipfs add` CIDs of these inputs (how they were produced: test/files.test.ts). */
const HELLO_V0 = 'QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o'
const SEEDED_262145_V0 = 'QmZEKjCx7VzaH3CumjMWSdTWLy55g3zEC4aHYVWaN1bxi7'
const SEEDED_45MIB_V0 = 'QmRdBGHVRfvjL6HPj36bWxNjT25GNgXFHAJn1UCYwjyiLM'

let dir: string
let cleanup: () => Promise<void>
let data: string
const file = (name: string): string => join(dir, name)
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir())
  data = join(dir, 'data')
  await writeFile(file('hello.txt'), 'hello world\n')
  await writeFile(file('seeded.bin'), seededBytes(262_145))
})
afterAll(async () => { await cleanup() })

describe('chainstore add / cat', () => {
  it('add prints the CID: Kubo\'s with --profile unixfs-v0-2015, CIDv1 by default', async () => {
    const v0 = await cli(['-d', data, 'add', '--profile', 'unixfs-v0-2015', file('hello.txt')])
    expect(v0.code, v0.stderr).toBe(0)
    expect(v0.stdout.toString()).toBe(`${HELLO_V0}\n`)
    const v1 = await cli(['-d', data, 'add', file('hello.txt')])
    expect(v1.stdout.toString()).toMatch(/^bafkrei[a-z2-7]+\n$/)
    const json = await cli(['-d', data, '--json', 'add', '--profile', 'unixfs-v0-2015', file('hello.txt')])
    expect(JSON.parse(json.stdout.toString())).toEqual({ cid: HELLO_V0, file: file('hello.txt'), bytes: 12 })
  })

  it('--cid-version 0 --no-raw-leaves --chunk-size 262144 give the profile\'s CID; --raw-leaves another', async () => {
    const flags = await cli(['-d', data, 'add', '--cid-version', '0', '--no-raw-leaves', '--chunk-size', '262144', file('seeded.bin')])
    expect(flags.code, flags.stderr).toBe(0)
    expect(flags.stdout.toString().trim()).toBe(SEEDED_262145_V0)
    const raw = await cli(['-d', data, 'add', '--profile', 'unixfs-v0-2015', '--raw-leaves', file('seeded.bin')])
    expect(raw.stdout.toString().trim()).toMatch(/^Qm/)
    expect(raw.stdout.toString().trim()).not.toBe(SEEDED_262145_V0)
  })

  it('cat writes the file\'s bytes to stdout', async () => {
    const added = await cli(['-d', data, 'add', file('seeded.bin')])
    const cat = await cli(['-d', data, 'cat', added.stdout.toString().trim()])
    expect(cat.code, cat.stderr).toBe(0)
    expect(Buffer.compare(cat.stdout, Buffer.from(seededBytes(262_145)))).toBe(0)
    const hello = await cli(['-d', data, 'cat', HELLO_V0])
    expect(hello.stdout.toString()).toBe('hello world\n')
  })

  it('a large file shows progress on stderr and only the CID on stdout', async () => {
    await writeFile(file('large.bin'), seededBytes(45 * 1024 * 1024))
    const r = await cli(['-d', data, 'add', '--profile', 'unixfs-v0-2015', file('large.bin')])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout.toString()).toBe(`${SEEDED_45MIB_V0}\n`)
    expect(r.stderr).toMatch(/add large\.bin: 45\/45 MiB \(100%\)/)
  }, 120_000)

  it.each<[string, string[], number, RegExp]>([
    ['a chunk over 1 MiB', ['add', '--chunk-size', '2000000', 'hello.txt'], 2, /InvalidFileOptionsError: .*chunkSize .* got 2000000/],
    ['an unknown profile', ['add', '--profile', 'kubo', 'hello.txt'], 2, /UsageError: .*'kubo' is invalid/],
    ['CID version 2', ['add', '--cid-version', '2', 'hello.txt'], 2, /UsageError: .*expected an integer from 0 to 1/],
    ['a missing input file', ['add', 'missing.txt'], 3, /InputFileNotFoundError/],
    ['a directory as input', ['add', '.'], 2, /InvalidInputFileError: .* not a regular file/],
    ['cat of a file the store does not hold', ['cat', 'QmPZ9gcCEpqKTo6aq61g2nXGUhM4iCL3ewB6LDXZCtioEB'], 3, /FileNotFoundError: cat QmPZ9gcC/],
    ['cat of something that is not a CID', ['cat', 'not-a-cid'], 2, /InvalidCidError/]
  ])('%s: a typed error and its exit code', async (_, args, code, message) => {
    const r = await cli(['-d', data, ...args.map(a => a === 'hello.txt' || a === 'missing.txt' || a === '.' ? file(a) : a)])
    expect(r.code).toBe(code)
    expect(r.stderr).toMatch(message)
    expect(r.stdout.length).toBe(0)
  })

  it('cat in a data dir that holds no store is DataDirNotFoundError, and creates none', async () => {
    const r = await cli(['-d', join(dir, 'none'), 'cat', HELLO_V0])
    expect(r.code).toBe(3)
    expect(r.stderr).toMatch(/DataDirNotFoundError/)
    await expect(access(join(dir, 'none'))).rejects.toThrow(/ENOENT/)
  })
})
