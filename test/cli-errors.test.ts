import { execFile, execFileSync } from 'node:child_process'
import { access, mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toJson } from '../src/codec/json.ts'
import { parseConfig } from '../src/config/index.ts'
import { createChainStore, type ChainStore } from '../src/index.ts'
import { SyntheticChain } from '../src/synthetic/chain.ts'
import { quietLogger, tempDir } from './helpers/store.ts'

const execFileP = promisify(execFile)
const CLI = 'src/cli/main.ts'

async function cli (args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  try {
    const { stdout, stderr } = await execFileP(process.execPath, [CLI, ...args], { timeout: 60_000 })
    return { code: 0, stdout, stderr }
  } catch (err: any) {
    return { code: err.code, stdout: err.stdout, stderr: err.stderr }
  }
}

/** The exit code table in docs/OPERATIONS.md, parsed: every code it documents. */
async function documentedCodes (): Promise<number[]> {
  const readme = await readFile('docs/OPERATIONS.md', 'utf8')
  const table = readme.slice(readme.indexOf('| code | meaning | errors |'))
  return [...table.matchAll(/^\| `(\d+)` \|/gm)].map(m => Number(m[1]))
}

/**
 * Makes a data dir unwritable the way an operator meets it: immutable
 * (`chattr +i`, as root, where permissions do not stop writes) or without
 * write permission (as any other user). Returns the undo.
 */
async function makeUnwritable (dir: string): Promise<() => Promise<void>> {
  if (process.getuid?.() === 0) {
    execFileSync('chattr', ['-R', '+i', dir])
    return async () => { execFileSync('chattr', ['-R', '-i', dir]) }
  }
  const chmodTree = async (mode: number): Promise<void> => { execFileSync('chmod', ['-R', mode === 0 ? 'a-w' : 'u+w', dir]) }
  await chmodTree(0)
  return async () => { await chmodTree(1) }
}

interface Case { what: string, args: string[], code: number, error?: string, check?: () => Promise<void> }

let dir: string
let cleanup: () => Promise<void>
let held: ChainStore | undefined
let undoUnwritable: (() => Promise<void>) | undefined

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('chainstore-cli-errors-'))
  const chain = new SyntheticChain({ txsPerBlock: 3, addresses: 10 })
  await writeFile(join(dir, 'blocks.json'), toJson(chain.take(2, parseConfig({}).limits)))
  for (const name of ['data', 'locked', 'readonly']) {
    const r = await cli(['-d', join(dir, name), 'block', 'put', join(dir, 'blocks.json')])
    expect(r.code, r.stderr).toBe(0)
  }
  // input files, each wrong in one way
  await writeFile(join(dir, 'empty.json'), '')
  await writeFile(join(dir, 'blank.json'), ' \n\t\n')
  await writeFile(join(dir, 'truncated.json'), (await readFile(join(dir, 'blocks.json'), 'utf8')).slice(0, 200))
  await writeFile(join(dir, 'not-json.json'), 'height: 12\nparent: none\n')
  await writeFile(join(dir, 'binary.json'), Uint8Array.from({ length: 256 }, (_, i) => i))
  await writeFile(join(dir, 'latin1.json'), Buffer.from([0x7b, 0x22, 0xe9, 0x22, 0x3a, 0x31, 0x7d])) // {"é":1} in latin-1
  await writeFile(join(dir, 'bom.json'), Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), await readFile(join(dir, 'blocks.json'))]))
  await writeFile(join(dir, 'null-config.json'), 'null')
  await writeFile(join(dir, 'a-file'), 'not a directory')
  // a data dir whose level/ is a file: creating it is EEXIST, reading it finds no store directory
  await mkdir(join(dir, 'level-is-file'))
  await writeFile(join(dir, 'level-is-file', 'level'), '')
  // a store whose LevelDB manifest pointer is damaged: an open error that is none of the above
  await mkdir(join(dir, 'damaged', 'level'), { recursive: true })
  await writeFile(join(dir, 'damaged', 'level', 'CURRENT'), 'MANIFEST-000099\n')
  held = await createChainStore({ dataDir: join(dir, 'locked') }, { logger: quietLogger })
  undoUnwritable = await makeUnwritable(join(dir, 'readonly'))
}, 120_000)

afterAll(async () => {
  await undoUnwritable?.()
  await held?.stop()
  await cleanup?.()
})

describe('CLI errors and exit codes', () => {
  it('every documented exit code; human mode writes errors to stderr only, --json writes JSON to stdout and the message to stderr', async () => {
    const d = (name: string): string => join(dir, name)
    const data = d('data')
    const put = (file: string): string[] => ['-d', data, 'block', 'put', d(file)]
    const cases: Case[] = [
      { what: 'a read', args: ['-d', data, 'block', 'get', '1'], code: 0 },
      { what: '--help', args: ['--help'], code: 0 },
      { what: 'a damaged LevelDB manifest pointer', args: ['-d', d('damaged'), 'block', 'get', '0'], code: 1, error: 'StoreOpenError' },
      { what: 'an empty block file', args: put('empty.json'), code: 2, error: 'InvalidInputFileError' },
      { what: 'a whitespace-only block file', args: put('blank.json'), code: 2, error: 'InvalidInputFileError' },
      { what: 'a truncated block file', args: put('truncated.json'), code: 2, error: 'InvalidInputFileError' },
      { what: 'a block file that is not JSON', args: put('not-json.json'), code: 2, error: 'InvalidInputFileError' },
      { what: 'a binary block file', args: put('binary.json'), code: 2, error: 'InvalidInputFileError' },
      { what: 'a block file that is not UTF-8', args: put('latin1.json'), code: 2, error: 'InvalidInputFileError' },
      { what: 'a block file with a UTF-8 BOM', args: put('bom.json'), code: 2, error: 'InvalidInputFileError' },
      { what: 'a directory as the block file (EISDIR)', args: ['-d', data, 'block', 'put', dir], code: 2, error: 'InvalidInputFileError' },
      { what: 'a block that does not validate', args: ['-d', data, 'tx', 'get', 'not-a-cid'], code: 2, error: 'InvalidCidError' },
      { what: 'a config file holding null', args: ['-c', d('null-config.json'), '-d', data, 'block', 'get', '0'], code: 2, error: 'InvalidConfigError' },
      { what: 'a config file holding null, no -d', args: ['-c', d('null-config.json'), 'block', 'get', '0'], code: 2, error: 'InvalidConfigError' },
      { what: 'start --demo --blocks abc --exit', args: ['-d', data, 'start', '--demo', '--blocks', 'abc', '--exit'], code: 2, error: 'UsageError' },
      { what: 'history --limit abc', args: ['-d', data, 'history', '0x' + '11'.repeat(20), '--limit', 'abc'], code: 2 },
      { what: 'an unknown command', args: ['-d', data, 'frobnicate'], code: 2, error: 'UsageError' },
      { what: 'an unknown option', args: ['-d', data, 'block', 'get', '0', '--frob'], code: 2, error: 'UsageError' },
      { what: 'a missing argument', args: ['-d', data, 'block', 'get'], code: 2, error: 'UsageError' },
      { what: 'a data dir under a file (ENOTDIR), read', args: ['-d', join(d('a-file'), 'data'), 'block', 'get', '0'], code: 2, error: 'InvalidDataDirError' },
      { what: 'a data dir under a file (ENOTDIR), create', args: ['-d', join(d('a-file'), 'data'), 'block', 'put', d('blocks.json')], code: 2, error: 'InvalidDataDirError' },
      { what: 'a data dir whose level/ is a file (EEXIST)', args: ['-d', d('level-is-file'), 'block', 'put', d('blocks.json')], code: 2, error: 'InvalidDataDirError' },
      { what: 'a data dir whose level/ is a file, read', args: ['-d', d('level-is-file'), 'block', 'get', '0'], code: 2, error: 'InvalidDataDirError' },
      { what: 'a data dir name too long (ENAMETOOLONG)', args: ['-d', d('x'.repeat(300)), 'block', 'put', d('blocks.json')], code: 2, error: 'InvalidDataDirError' },
      { what: 'init -o a directory (EISDIR)', args: ['-d', data, 'init', '-o', dir], code: 2, error: 'InvalidOutputFileError' },
      { what: 'a backup directory under a file (ENOTDIR)', args: ['-d', data, 'backup', 'create', join(d('a-file'), 'backups')], code: 2, error: 'InvalidPathError' },
      { what: 'a backup directory that is a file (EEXIST)', args: ['-d', data, 'backup', 'create', d('a-file')], code: 2, error: 'InvalidPathError' },
      { what: 'a backup directory in an immutable directory', args: ['-d', data, 'backup', 'create', join(d('readonly'), 'backups')], code: 1, error: 'PathNotPermittedError' },
      { what: 'a block not stored', args: ['-d', data, 'block', 'get', '999'], code: 3, error: 'BlockNotFoundError' },
      // the command waits out the pin's retries (unref'd timers) instead of exiting 13 with the pin unsettled
      { what: 'pin add of a CID no peer or gateway has', args: ['-d', data, 'pin', 'add', 'bafkreiemqpndzewx4bioklzfvhtiegsfny5fxuc3nkjk2vmcpjxiammsti'], code: 1, error: 'PinFailedError' },
      { what: 'a block file that does not exist', args: put('missing.json'), code: 3, error: 'InputFileNotFoundError' },
      {
        what: 'a read on a mistyped -d',
        args: ['-d', d('mistyped'), 'block', 'get', '0'],
        code: 3,
        error: 'DataDirNotFoundError',
        check: async () => { await expect(access(d('mistyped'))).rejects.toMatchObject({ code: 'ENOENT' }) } // no empty store made
      },
      { what: 'status on a mistyped -d', args: ['-d', d('mistyped'), 'status'], code: 3, error: 'DataDirNotFoundError' },
      { what: 'a data dir another process holds', args: ['-d', d('locked'), 'block', 'get', '0'], code: 4, error: 'StoreLockedError' },
      { what: 'a data dir that cannot be written', args: ['-d', d('readonly'), 'block', 'get', '0'], code: 5, error: 'StoreReadOnlyError' },
      { what: 'a write to a data dir that cannot be written', args: ['-d', d('readonly'), 'block', 'put', d('blocks.json')], code: 5, error: 'StoreReadOnlyError' }
    ]
    // the table covers every code docs/OPERATIONS.md documents, and documents every code the table uses
    expect([...new Set(cases.map(c => c.code))].sort()).toEqual((await documentedCodes()).sort())

    const failures: string[] = []
    // every case in human mode; --json for the first case of each code and each usage error
    // (one output path for all errors; a CLI process costs ~2 s here)
    const jsonFor = new Set(cases.filter((c, i) => cases.findIndex(o => o.code === c.code) === i || c.error === 'UsageError'))
    const run = async (c: Case): Promise<void> => {
      for (const json of jsonFor.has(c) ? [false, true] : [false]) {
        const args = json ? ['--json', ...c.args] : c.args
        const r = await cli(args)
        const where = `${c.what} (${json ? '--json' : 'human'}): exit ${r.code}, stdout ${r.stdout.slice(0, 200)}, stderr ${r.stderr.slice(0, 300)}`
        if (r.code !== c.code) { failures.push(`expected exit ${c.code}: ${where}`); continue }
        if (c.code === 0) continue
        // a person sees the error on stderr in both modes
        if (!(c.error == null ? /error/i : new RegExp(`error: ${c.error}`)).test(r.stderr)) failures.push(`stderr lacks the error: ${where}`)
        if (!json) {
          if (r.stdout !== '') failures.push(`human mode wrote to stdout: ${where}`)
          continue
        }
        let body: any
        try { body = JSON.parse(r.stdout) } catch { failures.push(`--json stdout is not one JSON value: ${where}`); continue }
        if (c.error != null && body.error !== c.error) failures.push(`--json error is ${String(body.error)}, expected ${c.error}: ${where}`)
        if (typeof body.message !== 'string' || body.message === '' || body.exitCode !== c.code) failures.push(`--json body incomplete: ${where}`)
      }
      await c.check?.()
    }
    // two at a time (each case starts a Node process; two CPUs, shared), never two on one data dir:
    // a second process on it would get the LevelDB lock instead of the error under test
    const queue = [...cases]
    const busy = new Set<string>()
    const dataDirOf = (c: Case): string => c.args[c.args.indexOf('-d') + 1] ?? ''
    await Promise.all([0, 1].map(async () => {
      while (queue.length > 0) {
        const i = queue.findIndex(c => !busy.has(dataDirOf(c)))
        if (i < 0) { await new Promise(resolve => setTimeout(resolve, 20)); continue }
        const [c] = queue.splice(i, 1)
        busy.add(dataDirOf(c))
        try { await run(c) } finally { busy.delete(dataDirOf(c)) }
      }
    }))
    expect(failures).toEqual([])
  }, 600_000)
})
