/**
 * The node home (src/cli/home.ts), as an operator meets it: `chainstore init`
 * with no flags makes ~/.chainstore (or $CHAINSTORE_PATH) with its config file
 * inside, every later command finds both without flags, and flags, then
 * CHAINSTORE_* variables, then the file, then defaults decide each key
 * (docs/CONFIG.md). One case per documented variable.
 */
import { execFile } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createChainStore } from '../src/index.ts'
import { quietLogger, tempDir } from './helpers/store.ts'
import { until } from './helpers/wait.ts'

const execFileP = promisify(execFile)
let root: { dir: string, cleanup: () => Promise<void> }
beforeAll(async () => { root = await tempDir('chainstore-home-') })
afterAll(async () => { await root.cleanup() })

/** Runs the CLI with a clean environment: HOME in the temp dir, no CHAINSTORE_* but the ones given. */
async function cli (args: string[], env: Record<string, string> = {}): Promise<{ code: number, stdout: string, stderr: string }> {
  const clean: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CHAINSTORE_') && v != null) clean[k] = v
  try {
    const { stdout, stderr } = await execFileP(process.execPath, ['src/cli/main.ts', ...args], { timeout: 60_000, env: { ...clean, HOME: join(root.dir, 'user'), ...env } })
    return { code: 0, stdout, stderr }
  } catch (err: any) {
    return { code: err.code, stdout: err.stdout, stderr: err.stderr }
  }
}
const show = async (key: string, env: Record<string, string> = {}, args: string[] = []): Promise<unknown> => {
  const r = await cli([...args, '--json', 'config', 'show', key], env)
  expect(r.code, r.stderr).toBe(0)
  return JSON.parse(r.stdout).value
}

describe('node home', () => {
  it('init with no flags makes ~/.chainstore with config.json inside; commands find it without flags; a second init refuses', async () => {
    const home = join(root.dir, 'user', '.chainstore')
    const r = await cli(['--json', 'init'])
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual({ config: join(home, 'config.json'), dataDir: home })
    const status = await cli(['--json', 'status'])
    expect(status.code, status.stderr).toBe(0)
    expect(JSON.parse(status.stdout).dataDir).toBe(home)
    const again = await cli(['init'])
    expect(again.code).toBe(1)
    expect(again.stderr).toContain('ConfigExistsError')
    const shown = JSON.parse((await cli(['--json', 'config', 'show'])).stdout)
    expect(shown).toMatchObject({ home, homeFrom: 'default', configFile: join(home, 'config.json'), configFrom: 'home' })
  })

  it('config set writes the file in use, validated; the order is flags, then CHAINSTORE_* variables, then the file, then defaults', async () => {
    const home = join(root.dir, 'set-home')
    const env = { CHAINSTORE_PATH: home }
    expect((await cli(['init'], env)).code).toBe(0)
    expect((await cli(['config', 'set', 'api.port', '8181'], env)).code).toBe(0)
    expect(JSON.parse(await readFile(join(home, 'config.json'), 'utf8')).api.port).toBe(8181)
    expect(await show('api.port', env)).toBe(8181)
    expect(await show('api.port', { ...env, CHAINSTORE_API_PORT: '9191' })).toBe(9191)
    const bad = await cli(['config', 'set', 'api.port', '"eighty"'], env)
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/InvalidConfigError.*api\.port/)
    expect(JSON.parse(await readFile(join(home, 'config.json'), 'utf8')).api.port).toBe(8181)
    // -d over CHAINSTORE_DATA_DIR over the file's dataDir over the home
    await cli(['config', 'set', 'dataDir', join(root.dir, 'from-file')], env)
    expect(await show('dataDir', env)).toBe(join(root.dir, 'from-file'))
    expect(await show('dataDir', { ...env, CHAINSTORE_DATA_DIR: join(root.dir, 'from-env') })).toBe(join(root.dir, 'from-env'))
    expect(await show('dataDir', { CHAINSTORE_DATA_DIR: join(root.dir, 'from-env') }, ['-d', join(root.dir, 'from-flag')])).toBe(join(root.dir, 'from-flag'))
  })

  it('every documented variable is honoured: CHAINSTORE_PATH, _DATA_DIR, _CONFIG, _DURABILITY, _API_HOST, _API_PORT', async () => {
    expect(await show('dataDir', { CHAINSTORE_PATH: join(root.dir, 'p') })).toBe(join(root.dir, 'p'))
    expect(await show('dataDir', { CHAINSTORE_DATA_DIR: join(root.dir, 'd') })).toBe(join(root.dir, 'd'))
    const file = join(root.dir, 'elsewhere.json')
    await writeFile(file, JSON.stringify({ api: { port: 7444 } }))
    expect(await show('api.port', { CHAINSTORE_CONFIG: file })).toBe(7444)
    expect(await show('durability', { CHAINSTORE_DURABILITY: 'power' })).toBe('power')
    expect(await show('api.host', { CHAINSTORE_API_HOST: '0.0.0.0' })).toBe('0.0.0.0')
    expect(await show('api.port', { CHAINSTORE_API_PORT: '7555' })).toBe(7555)
  })

  it('CHAINSTORE_LOG_LEVEL and CHAINSTORE_LOG_FORMAT reach start: error silences info, pretty lines carry time, level name and room', async () => {
    const env = { CHAINSTORE_PATH: join(root.dir, 'logs') }
    const quiet = await cli(['start', '--demo', '--blocks', '3', '--exit'], { ...env, CHAINSTORE_LOG_LEVEL: 'error' })
    expect(quiet.code, quiet.stderr).toBe(0)
    expect(quiet.stderr).not.toContain('store opened')
    const json = await cli(['start', '--demo', '--blocks', '3', '--exit'], env)
    const line = json.stderr.split('\n').find(l => l.includes('store opened'))!
    expect(JSON.parse(line)).toMatchObject({ level: 30, room: 'node', msg: 'store opened' })
    expect(line.match(/"room"/g)).toHaveLength(1)
    const pretty = await cli(['start', '--demo', '--blocks', '3', '--exit'], { ...env, CHAINSTORE_LOG_FORMAT: 'pretty' })
    expect(pretty.stderr).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO  node: store opened dataDir=\S+ head=2$/m)
    expect(pretty.stderr).not.toMatch(/Deprecation|Warning/)
  })

  it('chainstore id names the peer id and identity the started node uses; version carries the commit', async () => {
    const dataDir = join(root.dir, 'ids')
    const r = await cli(['-d', dataDir, '--json', 'id'])
    expect(r.code, r.stderr).toBe(0)
    const ids = JSON.parse(r.stdout)
    expect(ids.identity).toMatch(/^[0-9a-f]{66}$/)
    expect(JSON.parse((await cli(['-d', dataDir, '--json', 'id'])).stdout)).toEqual(ids)
    const store = await createChainStore({ dataDir, network: { enabled: true } }, { logger: quietLogger })
    try {
      expect(store.replication!.peerId).toBe(ids.peerId)
      expect(store.replication!.identityId).toBe(ids.identity)
    } finally { await store.stop() }
    expect(ids.addresses[0]).toBe(`/ip4/127.0.0.1/tcp/0/p2p/${ids.peerId}`)
    const v = JSON.parse((await cli(['--json', 'version'])).stdout)
    expect(v.version).toBe(JSON.parse(await readFile('package.json', 'utf8')).version)
    // the commit of this clone (`unknown` in a copy without its own .git directory)
    const { existsSync } = await import('node:fs')
    const commit = existsSync('.git/HEAD') ? (await execFileP('git', ['rev-parse', 'HEAD'])).stdout.trim() : 'unknown'
    expect(v.commit).toBe(commit)
  })
})

describe('start and signals', () => {
  /** Starts `chainstore start` and resolves once it serves (its "serving reads" line). */
  async function started (home: string, extra: string[] = []): Promise<{ child: import('node:child_process').ChildProcess, stderr: () => string, exit: Promise<number | null>, url: string }> {
    const { spawn } = await import('node:child_process')
    const child = spawn(process.execPath, ['src/cli/main.ts', '--log-level', 'warn', 'start', '--port', '0', ...extra], { env: { ...process.env, CHAINSTORE_PATH: home, CHAINSTORE_LOG_LEVEL: '' }, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stderr!.on('data', d => { err += String(d) })
    const exit = new Promise<number | null>(resolve => child.once('exit', code => { resolve(code) }))
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', d => { out += String(d); if (out.includes('serving reads')) resolve() })
      void exit.then(code => { reject(new Error(`start exited ${code} before serving: ${err}`)) })
    })
    return { child, stderr: () => err, exit, url: /serving reads on (\S+)/.exec(out)![1] }
  }

  it('SIGTERM stops the node cleanly: exit 0, after saying it stops', async () => {
    const a = await started(join(root.dir, 'sig-a'))
    a.child.kill('SIGTERM')
    expect(await a.exit).toBe(0)
    expect(a.stderr()).toContain('SIGTERM: stopping (press Ctrl-C again to force)')
  })

  it('a second Ctrl-C while the stop runs exits at once with 130 and says so (the handler start installs, around a stop that hangs)', async () => {
    const { spawn } = await import('node:child_process')
    const code = "const { onStopSignals } = await import('./src/cli/signals.ts'); onStopSignals(() => new Promise(() => {})); setInterval(() => {}, 1000); process.stdout.write('ready\\n')"
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] })
    let err = ''
    child.stderr.on('data', d => { err += String(d) })
    const exit = new Promise<number | null>(resolve => child.once('exit', c => { resolve(c) }))
    await new Promise(resolve => child.stdout.once('data', resolve))
    child.kill('SIGINT')
    await until(async () => err.includes('SIGINT: stopping (press Ctrl-C again to force)'), 10_000, 'the first SIGINT to be taken')
    child.kill('SIGINT')
    expect(await exit).toBe(130)
    expect(err).toContain('SIGINT again: exiting without waiting for the stop to finish')
  })
})
