import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openDestination } from '../src/backup/index.ts'
import { createChainStore } from '../src/index.ts'
import { SyntheticChain } from '../src/synthetic/chain.ts'
import { parseConfig } from '../src/config/index.ts'
import { startAzurite, startS3rver, type ObjectServer } from './helpers/object-servers.ts'
import { quietLogger, tempDir } from './helpers/store.ts'

const execFileP = promisify(execFile)

async function cli (args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  try {
    const { stdout, stderr } = await execFileP(process.execPath, ['src/cli/main.ts', ...args], { timeout: 60_000 })
    return { code: 0, stdout, stderr }
  } catch (err: any) {
    return { code: err.code, stdout: err.stdout, stderr: err.stderr }
  }
}

let s3: ObjectServer
let azure: ObjectServer
let dir: string
let cleanup: () => Promise<void>
beforeAll(async () => { [s3, azure, { dir, cleanup }] = await Promise.all([startS3rver(), startAzurite(), tempDir()]) })
afterAll(async () => { await Promise.all([s3?.stop(), azure?.stop(), cleanup?.()]) })

describe('chainstore CLI: backups to object storage', () => {
  it('create to configured destinations, list, verify names a corrupt copy, restore falls over to the next; no credential in any output', async () => {
    const src = join(dir, 'src')
    const store = await createChainStore({ dataDir: src }, { logger: quietLogger })
    await store.storeBlocks(new SyntheticChain({ txsPerBlock: 5, addresses: 20, seed: 4 }).take(8, parseConfig({}).limits))
    await store.stop()
    const cloud = s3.spec('chainstore-bk', 'cli')
    const blob = azure.spec('chainstore-bk', 'cli')
    const cfg = join(dir, 'node.json')
    await writeFile(cfg, JSON.stringify({ dataDir: src, backup: { destinations: [{ name: 'cloud', ...cloud }, { name: 'blob', ...blob }, { name: 'nobucket', ...s3.spec('no-such-bucket', 'x') }] } }))
    const outputs: string[] = []
    const run = async (args: string[]): Promise<{ code: number, stdout: string, stderr: string }> => {
      const r = await cli(['-c', cfg, ...args])
      outputs.push(r.stdout, r.stderr)
      return r
    }
    const created = await run(['--json', 'backup', 'create', '--to', 'cloud', '--to', 'blob'])
    expect(created.code, created.stderr).toBe(0)
    const results = JSON.parse(created.stdout).results
    expect(results.map((r: any) => [r.ok, r.destination])).toEqual([[true, 's3://chainstore-bk/cli'], [true, 'azure://chainstore-bk/cli']])
    expect(results[0].manifestCid).toEqual(results[1].manifestCid)
    const list = JSON.parse((await run(['--json', 'backup', 'list', '--from', 'cloud'])).stdout)
    expect(list.map((b: any) => b.manifest.kind)).toEqual(['full'])

    const d = await openDestination(cloud)
    const key = `${results[0].id}/chain.car`
    const bytes: Uint8Array[] = []
    for await (const c of d.read(key)) bytes.push(c)
    const b = Buffer.concat(bytes)
    b[Math.floor(b.length / 2)] ^= 1
    await d.write(key, (async function * () { yield b })())
    await d.close()

    const verified = await run(['--json', 'backup', 'verify', '--from', 'cloud', '--from', 'blob'])
    expect(verified.code).toBe(1)
    const v = JSON.parse(verified.stdout)
    expect(v.results.map((r: any) => [r.destination, r.ok, r.error])).toEqual([['s3://chainstore-bk/cli', false, 'BackupCorruptError'], ['azure://chainstore-bk/cli', true, undefined]])
    expect(v.results[0].detail).toMatchObject({ file: 'chain.car', destination: 's3://chainstore-bk/cli' })

    const target = join(dir, 'restored')
    const restored = await run(['--json', 'backup', 'restore', '--from', 'cloud', '--from', 'blob', '--target', target])
    expect(restored.code, restored.stderr).toBe(0)
    const r = JSON.parse(restored.stdout)
    expect(r).toMatchObject({ destination: 'azure://chainstore-bk/cli', head: { height: 7 }, skipped: [{ destination: 's3://chainstore-bk/cli', error: 'BackupCorruptError' }] })
    expect(restored.stderr).toMatch(/skipped s3:\/\/chainstore-bk\/cli: BackupCorruptError/)

    // a bucket that does not exist: exit 3, typed
    const missing = await run(['--json', 'backup', 'list', '--from', 'nobucket'])
    expect(missing.code).toBe(3)
    expect(JSON.parse(missing.stdout).error).toBe('DestinationNotFoundError')
    const all = outputs.join('\n')
    for (const secret of [...s3.secrets, ...azure.secrets]) expect(all).not.toContain(secret)
  }, 120_000)
})
