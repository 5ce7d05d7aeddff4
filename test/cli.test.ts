import { execFile, spawn } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toJson } from '../src/codec/json.ts'
import { parseConfig } from '../src/config/index.ts'
import { SyntheticChain } from '../src/synthetic/chain.ts'
import { PeerProcess } from '../src/devnet/controller.ts'
import { buildProfiles } from '../src/cli/devnet.ts'
import { identityIdFromSeed, peerIdFromSeed } from '../src/replication/keys.ts'
import { tempDir } from './helpers/store.ts'

const execFileP = promisify(execFile)
const CLI = 'src/cli/main.ts'

async function cli (args: string[], timeout = 60_000): Promise<{ code: number, stdout: string, stderr: string }> {
  try {
    const { stdout, stderr } = await execFileP(process.execPath, [CLI, ...args], { timeout })
    return { code: 0, stdout, stderr }
  } catch (err: any) {
    return { code: err.code, stdout: err.stdout, stderr: err.stderr }
  }
}

let dir: string
let cleanup: () => Promise<void>
let dataDir: string
beforeAll(async () => { ({ dir, cleanup } = await tempDir()); dataDir = join(dir, 'data') })
afterAll(async () => { await cleanup() })

describe('chainstore CLI', () => {
  it('init writes a config with every default and creates the data dir', async () => {
    const out = join(dir, 'node.json')
    const r = await cli(['-d', dataDir, '--json', 'init', '-o', out])
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual({ config: out, dataDir })
    const written = JSON.parse(await readFile(out, 'utf8'))
    expect(written).toEqual(parseConfig({ dataDir }))
  })

  it('block put / block get / tx get / history / status, human and --json', async () => {
    const chain = new SyntheticChain({ txsPerBlock: 10, addresses: 20 })
    const blocks = chain.take(3, parseConfig({}).limits)
    const file = join(dir, 'blocks.json')
    await writeFile(file, toJson(blocks))
    const put = await cli(['-d', dataDir, '--json', 'block', 'put', file])
    expect(put.code).toBe(0)
    const stored = JSON.parse(put.stdout)
    expect(stored.map((s: any) => s.height)).toEqual([0, 1, 2])
    expect(stored.every((s: any) => s.created)).toBe(true)

    const again = await cli(['-d', dataDir, 'block', 'put', file])
    expect(again.stdout).toMatch(/already stored block 2/)

    const got = JSON.parse((await cli(['-d', dataDir, '--json', 'block', 'get', '2'])).stdout)
    expect(got.cid).toBe(stored[2].cid)
    expect(got.transactions).toHaveLength(10)
    const human = await cli(['-d', dataDir, 'block', 'get', stored[1].cid])
    expect(human.stdout).toMatch(new RegExp(`^block 1 ${stored[1].cid as string}`))

    // gc keeps every pinned chain block (3 blocks × header + tx page + receipt page) and says so
    const gc = await cli(['-d', dataDir, '--json', 'gc'])
    expect(gc.code).toBe(0)
    expect(JSON.parse(gc.stdout)).toMatchObject({ scanned: 9, marked: 9, deleted: 0, bytesFreed: 0, incompletePins: 0 })
    // not a TTY: plain progress lines with counts, rate and ETA
    expect(gc.stderr).toMatch(/gc sweep: 9\/9 blocks \(100%\), \d+ blocks\/s/)
    const pins = JSON.parse((await cli(['-d', dataDir, '--json', 'pin', 'ls'])).stdout)
    expect(pins.map((p: any) => [p.height, p.reasons, p.recursive, p.state])).toEqual(expect.arrayContaining([[0, ['chain'], true, 'pinned'], [1, ['chain'], true, 'pinned'], [2, ['chain'], true, 'pinned']]))
    const added = await cli(['-d', dataDir, '--json', 'pin', 'add', stored[1].cid, '--root-only'])
    expect(JSON.parse(added.stdout)).toMatchObject({ reasons: ['chain', 'user'], state: 'pinned' })
    expect(JSON.parse((await cli(['-d', dataDir, '--json', 'pin', 'ls', '--state', 'failed'])).stdout)).toEqual([])
    const badState = await cli(['-d', dataDir, 'pin', 'ls', '--state', 'lost'])
    expect(badState.code).toBe(2)
    expect(badState.stderr).toMatch(/InvalidQueryError: --state: expected one of queued, pinning, pinned, failed/)
    const removed = await cli(['-d', dataDir, 'pin', 'rm', stored[1].cid])
    expect(removed.stdout).toMatch(/^unpinned /)

    const txId = stored[2].txIds[4]
    const tx = JSON.parse((await cli(['-d', dataDir, '--json', 'tx', 'get', txId])).stdout)
    expect(tx).toMatchObject({ id: txId, height: 2, index: 4 })
    expect(tx.receipt.status).toBeTypeOf('number')
    expect(tx.transaction.from).toBe(blocks[2].transactions[4].from)

    const history = JSON.parse((await cli(['-d', dataDir, '--json', 'history', blocks[2].transactions[4].from, '--limit', '100'])).stdout)
    expect(history.items.map((i: any) => i.id)).toContain(txId)

    const status = JSON.parse((await cli(['-d', dataDir, '--json', 'status'])).stdout)
    expect(status.head).toEqual({ height: 2, cid: stored[2].cid })
  }, 120_000) // about twenty CLI processes, each a cold start: a loaded machine needs more than the default minute

  it('errors print the typed error and exit with the documented code', async () => {
    const missing = await cli(['-d', dataDir, '--json', 'block', 'get', '999'])
    expect(missing.code).toBe(3)
    expect(JSON.parse(missing.stdout)).toMatchObject({ error: 'BlockNotFoundError' })
    const bad = await cli(['-d', dataDir, 'tx', 'get', 'not-a-cid'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/InvalidCidError/)
    const file = join(dir, 'bad.json')
    await writeFile(file, JSON.stringify({ height: 'x' }))
    const badBlock = await cli(['-d', dataDir, 'block', 'put', file])
    expect(badBlock.code).toBe(2)
    expect(badBlock.stderr).toMatch(/InvalidBlockError: block\.height/)
  })

  it('start --demo ingests with progress, serves reads over HTTP, and stops on SIGTERM', async () => {
    const demoDir = join(dir, 'demo')
    const child = spawn(process.execPath, [CLI, '-d', demoDir, '--json', 'start', '--demo', '--blocks', '30', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', d => { stdout += d })
    child.stderr.on('data', d => { stderr += d })
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const t = setTimeout(() => { reject(new Error(`no API url; stderr: ${stderr}`)) }, 60_000)
        const check = (): void => {
          const m = /"api": "(http:\/\/127\.0\.0\.1:\d+)"/.exec(stdout)
          if (m != null) { clearTimeout(t); resolve(m[1]) }
        }
        child.stdout.on('data', check)
      })
      expect(stderr).toMatch(/ingest: 30\/30 blocks \(100%\)/)
      expect(stdout).toMatch(/"transactions": \d+/)
      const block = await (await fetch(`${url}/blocks/29`)).json() as any
      expect(block.header.height).toBe(29)
      const tx = await fetch(`${url}/tx/${block.txIds[0] as string}`)
      expect(tx.status).toBe(200)
      expect((await tx.json() as any).height).toBe(29)
      const receipt = await fetch(`${url}/tx/${block.txIds[0] as string}/receipt`)
      expect(receipt.status).toBe(200)
      const history = await (await fetch(`${url}/address/${block.transactions[0].from as string}/history?limit=2`)).json() as any
      expect(history.items.length).toBeGreaterThan(0)
      const notFound = await fetch(`${url}/blocks/5000`)
      expect(notFound.status).toBe(404)
      expect(await notFound.json()).toMatchObject({ error: 'BlockNotFoundError' })
      const badRequest = await fetch(`${url}/tx/nope`)
      expect(badRequest.status).toBe(400)
      expect((await (await fetch(`${url}/status`)).json() as any).head.height).toBe(29)
    } finally {
      const exited = new Promise<number | null>(resolve => child.once('exit', code => { resolve(code) }))
      child.kill('SIGTERM')
      expect(await exited).toBe(0)
    }
  })
})

describe('chainstore CLI: network', () => {
  it('the devnet profiles in peers/ are what `devnet profiles` generates, and load as configs', async () => {
    const { manifest, profiles } = await buildProfiles()
    expect(JSON.parse(await readFile('peers/devnet.json', 'utf8'))).toEqual(manifest)
    for (const [file, cfg] of Object.entries(profiles)) {
      expect(JSON.parse(await readFile(join('peers', file), 'utf8'))).toEqual(cfg)
      expect(parseConfig(cfg).network.enabled).toBe(true)
    }
    expect(manifest.peers.map(p => [p.name, p.role, p.pinPreset])).toEqual([['peer-1', 'writer', 'archive'], ['peer-2', 'replica', 'archive'], ['peer-3', 'replica', 'archive']])
    expect(manifest.peers[1].peerId).toBe(await peerIdFromSeed('peer-2'))
    const p2 = parseConfig(profiles['peer-2.json'])
    expect(p2.network.writers).toEqual([identityIdFromSeed('peer-1')])
    // bootstrap lists, not a full mesh: peer-1 and the peer before; replicas are whoever is connected
    expect(p2.network.replicas).toEqual([])
    expect(p2.network.peers).toEqual([`/ip4/127.0.0.1/tcp/4101/p2p/${manifest.peers[0].peerId}`])
    expect(parseConfig(profiles['peer-3.json']).network.peers).toEqual([`/ip4/127.0.0.1/tcp/4101/p2p/${manifest.peers[0].peerId}`, `/ip4/127.0.0.1/tcp/4102/p2p/${manifest.peers[1].peerId}`])
    expect(parseConfig(profiles['peer-1.json']).network.peers).toEqual([])
    // the single-node profile still loads
    expect(parseConfig(JSON.parse(await readFile('peers/local.json', 'utf8'))).network.enabled).toBe(false)

    const out = join(dir, 'profiles')
    const r = await cli(['--json', 'devnet', 'profiles', '-o', out, '--listen-base', '5100'])
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout).files).toHaveLength(4)
    expect(JSON.parse(await readFile(join(out, 'peer-3.json'), 'utf8')).network.listen).toEqual(['/ip4/127.0.0.1/tcp/5103'])
  })

  it('devnet --peers 4 --exit: 4 peer processes from generated profiles (bootstrap lists only), peer 1 ingests, all reach the same head', async () => {
    const r = await cli(['--json', 'devnet', '--peers', '4', '--exit', '--blocks', '50', '--txs', '20', '--base-port', '0', '--dir', join(dir, 'devnet'), '--timeout', '90', '--no-api'], 150_000)
    expect(r.code, r.stderr).toBe(0)
    const s = JSON.parse(r.stdout)
    expect(s.converged).toBe(true)
    expect(s.target).toBe(49)
    expect(s.ingested.blocks).toBe(50)
    expect(s.peers.map((p: any) => [p.name, p.role, p.height])).toEqual([['peer-1', 'writer', 49], ['peer-2', 'replica', 49], ['peer-3', 'replica', 49], ['peer-4', 'replica', 49]])
    expect(new Set(s.peers.map((p: any) => p.cid)).size).toBe(1)
    for (const p of s.peers) expect(p.addresses[0]).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/12D3KooW/)
    // stderr: the start lines and the plain progress lines (not a TTY)
    expect(r.stderr).toMatch(/peer-2 replica 12D3KooW/)
    expect(r.stderr).toMatch(/devnet [\d.]+s: peer-1 \d+\/49 .* \| peer-2 .* lag \d+ .* \| peer-3 .* \| peer-4 /)
    expect(r.stderr).toMatch(/all 4 peers at height 49/)
  }, 160_000)

  it('start --peer joins a network; peers --json lists connections with reputation', async () => {
    const remote = await PeerProcess.start({ dataDir: join(dir, 'remote'), logLevel: 'error', network: { enabled: true, seed: 'remote', intervalMs: 500 } }, { stdio: 'ignore' })
    try {
      const info = await remote.call('info')
      const addr: string = info.addresses[0]

      const peers = await cli(['-d', join(dir, 'lister'), '--json', 'peers', '--peer', addr, '--wait', '1500'])
      expect(peers.code, peers.stderr).toBe(0)
      const listed = JSON.parse(peers.stdout)
      expect(listed.self).toMatch(/^12D3KooW/)
      const entry = listed.peers.find((p: any) => p.peerId === info.peerId)
      expect(entry).toMatchObject({ peerId: info.peerId, addresses: [expect.stringMatching(/^\/ip4\/127\.0\.0\.1\/tcp\//)], reputation: expect.any(Number), observers: expect.any(Number), banned: false })
      // the head comes from the peer's HEAD_PROTOCOL reply, once a replication tick asked for it
      expect(entry.head === null || entry.head.height === -1).toBe(true)
      expect(entry.lag === null || entry.lag === 0).toBe(true)
      expect(entry.reputation).toBeGreaterThanOrEqual(0)
      expect(entry.reputation).toBeLessThanOrEqual(1)
      const human = await cli(['-d', join(dir, 'lister'), 'peers', '--peer', addr, '--wait', '1500'])
      expect(human.stdout).toMatch(/peer id +reputation +observers +head +lag +status +addresses/)
      expect(human.stdout).toContain(info.peerId)

      // a chain to catch up with: the joiner shows its sync as progress on stderr
      await remote.call('ingest', { count: 300, txs: 20, batch: 10 })
      const child = spawn(process.execPath, [CLI, '-d', join(dir, 'joiner'), '--json', 'start', '--port', '0', '--peer', addr, '--writer', info.identity], { stdio: ['ignore', 'pipe', 'pipe'] })
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', d => { stdout += d })
      child.stderr.on('data', d => { stderr += d })
      try {
        const joined = await new Promise<any>((resolve, reject) => {
          const t = setTimeout(() => { reject(new Error(`start --peer printed nothing: ${stdout}`)) }, 60_000)
          child.stdout.on('data', () => {
            try { const j = JSON.parse(stdout); clearTimeout(t); resolve(j) } catch {}
          })
        })
        expect(joined.peerId).toMatch(/^12D3KooW/)
        expect(joined.addresses[0]).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\//)
        const end = Date.now() + 20_000
        let seen = false
        while (!seen && Date.now() < end) {
          seen = (await remote.call('peers')).some((p: any) => p.peerId === joined.peerId)
          if (!seen) await new Promise(resolve => setTimeout(resolve, 200))
        }
        expect(seen).toBe(true)
        const synced = Date.now() + 30_000
        while (!stderr.includes('sync: in sync at height 299') && Date.now() < synced) await new Promise(resolve => setTimeout(resolve, 200))
        expect(stderr).toMatch(/sync to 299: \d+\/\d+ blocks \(\d+%\), \d+ blocks\/s, ETA \d+s/)
        expect(stderr).toContain('sync: in sync at height 299')
      } finally {
        const exited = new Promise<number | null>(resolve => child.once('exit', code => { resolve(code) }))
        child.kill('SIGTERM')
        expect(await exited, `exit code after SIGTERM; stderr:\n${stderr.slice(-3000)}`).toBe(0)
      }
    } finally {
      await remote.stop()
    }
  }, 120_000)
})

describe('chainstore CLI: attestations', () => {
  it('attest export gives a validator everything held about them; attest erase crypto-shreds; both --json; off is a usage error', async () => {
    const { randomBytes } = await import('node:crypto')
    const { createChainStore } = await import('../src/index.ts')
    const { commitSample } = await import('../src/attestations/index.ts')
    const { quietLogger } = await import('./helpers/store.ts')
    process.env.CHAINSTORE_MASTER_KEY = randomBytes(32).toString('hex')
    const attDir = join(dir, 'attest')
    const cfgFile = join(dir, 'attest.json')
    await writeFile(cfgFile, JSON.stringify({ dataDir: attDir, attestations: { enabled: true } }))
    const store = await createChainStore({ dataDir: attDir, attestations: { enabled: true } }, { logger: quietLogger })
    await store.attestations!.ingest([1, 2, 3].map(h => ({
      validator: 'val-9', height: h, timestamp: Date.now() - 10_000 + h, score: 0.25 * h,
      commitment: commitSample(new TextEncoder().encode(`s${h}`), new Uint8Array(32).fill(1)),
      payload: { device: 'band', round: h }
    })))
    await store.stop()

    const exported = JSON.parse((await cli(['-c', cfgFile, '--json', 'attest', 'export', 'val-9'])).stdout)
    expect(exported.dataKeyHeld).toBe(true)
    expect(exported.attestations.map((a: any) => [a.height, a.payloadPlaintext])).toEqual([[1, { device: 'band', round: 1 }], [2, { device: 'band', round: 2 }], [3, { device: 'band', round: 3 }]])
    const erased = await cli(['-c', cfgFile, '--json', 'attest', 'erase', 'val-9'])
    expect(erased.code, erased.stderr).toBe(0)
    expect(JSON.parse(erased.stdout)).toMatchObject({ validator: 'val-9', keyDestroyed: true, records: 3 })
    const after = JSON.parse((await cli(['-c', cfgFile, '--json', 'attest', 'export', 'val-9'])).stdout)
    expect(after).toMatchObject({ dataKeyHeld: false, attestations: [], erasure: { validator: 'val-9' } })
    // a store without attestations (a data dir with no store is DataDirNotFoundError, test/cli-errors.test.ts)
    const plain = join(dir, 'no-attest')
    await (await createChainStore({ dataDir: plain }, { logger: quietLogger })).stop()
    const off = await cli(['-d', plain, 'attest', 'export', 'val-9'])
    expect(off.code).toBe(2)
    expect(off.stderr).toMatch(/attestations are off/)
  }, 60_000)
})

describe('chainstore CLI: backups and verify', () => {
  it('backup create (full, incremental) / list / verify / restore --height, and verify [--repair]: progress on stderr, --json, exit codes', async () => {
    const { createChainStore } = await import('../src/index.ts')
    const { quietLogger } = await import('./helpers/store.ts')
    const src = join(dir, 'bk-src')
    const backups = join(dir, 'bk')
    const chain = new SyntheticChain({ txsPerBlock: 5, addresses: 20, seed: 3 })
    const limits = parseConfig({}).limits
    let store = await createChainStore({ dataDir: src }, { logger: quietLogger })
    await store.storeBlocks(chain.take(10, limits))
    await store.stop()
    const full = await cli(['-d', src, '--json', 'backup', 'create', backups])
    expect(full.code, full.stderr).toBe(0)
    expect(JSON.parse(full.stdout).manifest).toMatchObject({ kind: 'full', from: 0, to: 9 })
    expect(full.stderr).toMatch(/\d+\/\d+ items/)
    store = await createChainStore({ dataDir: src }, { logger: quietLogger })
    await store.storeBlocks(chain.take(5, limits))
    await store.stop()
    const inc = await cli(['-d', src, '--json', 'backup', 'create', backups, '--incremental'])
    expect(JSON.parse(inc.stdout).manifest).toMatchObject({ kind: 'incremental', from: 10, to: 14 })
    const list = JSON.parse((await cli(['--json', 'backup', 'list', backups])).stdout)
    expect(list.map((b: any) => b.manifest.kind)).toEqual(['full', 'incremental'])
    const verified = await cli(['--json', 'backup', 'verify', backups])
    expect(verified.code).toBe(0)
    expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true })
    const target = join(dir, 'bk-restored')
    const restored = await cli(['--json', 'backup', 'restore', backups, '--height', '12', '--target', target])
    expect(restored.code, restored.stderr).toBe(0)
    expect(JSON.parse(restored.stdout).head.height).toBe(12)
    // the restored store checks clean
    const clean = await cli(['-d', target, '--json', 'verify'])
    expect(clean.code, clean.stdout).toBe(0)
    expect(JSON.parse(clean.stdout).problems).toBe(0)
    // a second restore into the same dir is refused: exit 1, a typed error
    const again = await cli(['--json', 'backup', 'restore', backups, '--target', target])
    expect(again.code).toBe(1)
    expect(JSON.parse(again.stdout).error).toBe('RestoreTargetNotEmptyError')
    const missing = await cli(['backup', 'verify', join(dir, 'no-such-backups')])
    expect(missing.code).toBe(3)
  }, 120_000)
})
