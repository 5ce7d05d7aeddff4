/**
 * I/O faults.
 *
 * (a) Disk full: the data dir on an 8 MiB tmpfs; writes go on until the
 *     filesystem refuses them. Each refusal must be a typed error
 *     (WriteFailedError), never an acknowledgement; once space returns
 *     (remount bigger) the store reopens with no repair and holds every
 *     acknowledged block, hashing to its CID.
 * (b) Injected errors: strace attaches to a child writing blocks and makes
 *     LevelDB's log write(2) fail with EIO or ENOSPC, or its fdatasync/fsync
 *     fail with EIO under durability 'power', from the N-th call on
 *     ('persistent') or once ('transient'). The failing write must be
 *     refused; reopening finds every acknowledged write.
 *
 * Needs root (mount) and strace: when either is missing the test fails and
 * says so. IO_FAULT_POINTS sets how many injection points (N) each scenario
 * tries (default 8: points N = 19, 33 and 54 found writes outside the block
 * batches that did not fail stop; 2 points never reached them); IO_DEBUG=1
 * prints each point's acknowledged and refused writes (IO_DEBUG=all: every
 * refusal, not only the unexpected ones).
 */
import { execFileSync, spawn, type ChildProcess, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { once } from 'node:events'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomBytes } from 'node:crypto'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { bytesMatchCid } from '../../src/codec/cid.ts'
import { createChainStore, type ChainStore } from '../../src/index.ts'
import { SyntheticChain } from '../../src/synthetic/chain.ts'
import { quietLogger } from '../helpers/store.ts'
import { scanLevel } from '../helpers/verify-store.ts'
import { ChildLines, deadline } from './helpers/lines.ts'

const WRITER = fileURLToPath(new URL('./helpers/io-writer.ts', import.meta.url))
const POINTS = Number(process.env.IO_FAULT_POINTS ?? 8)
const live = new Set<ChildProcessWithoutNullStreams>()
const tracers = new Set<ChildProcess>()
const mounts: string[] = []
const dirs: string[] = []
const stores = new Set<ChainStore>()
const figures: string[] = []

afterEach(async () => {
  for (const s of tracers) s.kill('SIGKILL')
  tracers.clear()
  for (const c of live) c.kill('SIGKILL')
  await Promise.all([...live].map(async c => { if (c.exitCode == null && c.signalCode == null) await once(c, 'close') }))
  for (const s of stores) await s.stop().catch(() => {})
  stores.clear()
  for (const m of mounts.splice(0)) { try { execFileSync('umount', ['-l', m]) } catch {} }
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})
afterAll(() => { for (const f of figures) console.log(f) })

async function tempDir (): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'chainstore-io-'))
  dirs.push(d)
  return d
}

type Ack = { kind: 'block', height: number, cid: string } | { kind: 'blob', cid: string }

/** Reopens with no repair step and checks every acknowledged write; returns lost and corrupt lists. */
async function verifyAcks (dataDir: string, acks: Ack[]): Promise<{ lost: string[], corrupt: string[] }> {
  const lost: string[] = []
  const corrupt: string[] = []
  const store = await createChainStore({ dataDir }, { logger: quietLogger })
  stores.add(store)
  try {
    for (const a of acks) {
      try {
        const bytes = await store.getBytes(a.cid, { timeoutMs: 1 })
        const cid = (await import('multiformats/cid')).CID.parse(a.cid)
        if (!bytesMatchCid(cid, bytes)) corrupt.push(`${a.cid}: bytes do not hash to it`)
        if (a.kind === 'block' && (await store.getBlock(a.height)).cid.toString() !== a.cid) lost.push(`block ${a.height}: another block at its height`)
      } catch (err) {
        lost.push(`${a.kind} ${a.cid}: ${(err as Error).name}`)
      }
    }
    // the store takes writes again
    await store.putBytes(randomBytes(1024))
  } finally {
    await store.stop()
    stores.delete(store)
  }
  corrupt.push(...(await scanLevel(dataDir)).problems)
  return { lost, corrupt }
}

function requireRoot (): void {
  if (process.getuid?.() !== 0) throw new Error('the I/O fault tests need root (mount -t tmpfs, strace attach); run them as root as CI does')
}

function requireStrace (): void {
  try { execFileSync('strace', ['-V'], { stdio: 'ignore' }) } catch { throw new Error('strace is not installed: apt-get install strace (the EIO/ENOSPC injection tests cannot run without it)') }
}

describe('disk full', () => {
  it('writes past the end of an 8 MiB filesystem are refused with WriteFailedError, never acknowledged; the store reopens cleanly once space returns', async () => {
    requireRoot()
    const mnt = await tempDir()
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mnt])
    } catch (err) {
      throw new Error(`cannot mount a tmpfs at ${mnt}: ${(err as Error).message} (the disk-full test needs mount permission)`)
    }
    mounts.push(mnt)
    const dataDir = join(mnt, 'data')
    await mkdir(dataDir)
    const store = await createChainStore({ dataDir, level: { writeBufferSize: 1024 * 1024 } }, { logger: quietLogger })
    stores.add(store)
    const acks: Ack[] = []
    const refusals: Array<{ name: string, message: string }> = []
    const chain = new SyntheticChain({ seed: 9, txsPerBlock: [5, 20], addresses: 30, dataBytes: 64 })
    for (let i = 0; i < 2000 && refusals.length < 5; i++) {
      try {
        if (i % 2 === 0) {
          const stored = await store.storeBlocks(chain.take(1, store.config.limits))
          for (const b of stored) acks.push({ kind: 'block', height: b.height, cid: b.cid.toString() })
        } else {
          acks.push({ kind: 'blob', cid: (await store.putBytes(randomBytes(64 * 1024))).toString() })
        }
      } catch (err) {
        refusals.push({ name: (err as Error).name, message: (err as Error).message })
        if (i % 2 === 0) { const head = store.head(); if (head != null) chain.resume(head) }
      }
    }
    const stop = await store.stop().then(() => 'ok', (err: Error) => `${err.name}: ${err.message}`)
    stores.delete(store)
    // space returns
    execFileSync('mount', ['-o', 'remount,size=64m', mnt])
    const { lost, corrupt } = await verifyAcks(dataDir, acks)
    figures.push(`[faults:io] disk-full acknowledged=${acks.length} refused=${refusals.length} lost=${lost.length} corrupt=${corrupt.length} failedOpens=0 refusal="${refusals[0]?.name}: ${refusals[0]?.message.slice(0, 100)}" stop=${stop.slice(0, 60)}`)
    expect(refusals.length, 'the filesystem never filled up').toBeGreaterThan(0)
    expect(refusals.map(r => r.name)).toEqual(refusals.map(() => 'WriteFailedError'))
    expect(refusals[0].message).toMatch(/space|ENOSPC|IO error/i)
    expect(lost).toEqual([])
    expect(corrupt).toEqual([])
  })
})

/**
 * `known`: a reported bug the scenario reproduces; the test is then expected
 * to fail (it.fails) and turns red the day the bug is fixed, so the marker
 * comes off.
 */
interface Scenario { name: string, syscalls: string, error: 'EIO' | 'ENOSPC', durability: 'process' | 'power', transient: boolean, known?: string }
const SCENARIOS: Scenario[] = [
  { name: 'write EIO', syscalls: 'write', error: 'EIO', durability: 'process', transient: false },
  { name: 'write ENOSPC', syscalls: 'write', error: 'ENOSPC', durability: 'process', transient: false },
  { name: 'fdatasync EIO', syscalls: 'fsync,fdatasync', error: 'EIO', durability: 'power', transient: false },
  {
    name: 'write EIO once',
    syscalls: 'write',
    error: 'EIO',
    durability: 'process',
    transient: true
  },
  { name: 'fdatasync EIO once', syscalls: 'fsync,fdatasync', error: 'EIO', durability: 'power', transient: true }
]

describe('injected I/O errors (strace)', () => {
  for (const sc of SCENARIOS) {
    const test = sc.known != null ? it.fails : it
    test(`${sc.name}${sc.transient ? '' : ' from the N-th call on'} (durability ${sc.durability}): the failing write is refused, every acknowledged write survives a reopen${sc.known != null ? ' [KNOWN BUG, expected to fail]' : ''}`, async () => {
      requireRoot()
      requireStrace()
      const totals = { acks: 0, refused: 0, lost: 0, corrupt: 0, failedOpens: 0, injected: 0, unreported: 0 }
      const names = new Set<string>()
      const openFailures: string[] = []
      for (let p = 0; p < POINTS; p++) {
        // strace counts `when=N` per thread, and LevelDB's writes run on
        // whichever libuv pool thread picks them up: with the default pool
        // of 4 the N-th call on one thread came near the 4N-th write, and
        // points past ~15 never fired in 60 writes. One pool thread makes N
        // the N-th call of the process; a run of 60 writes makes ~60
        // fdatasyncs and ~150 write(2)s on the log, so N stays in 5..54.
        const n = 5 + (p * 7) % 50
        const dataDir = join(await tempDir(), 'data')
        const child = new ChildLines(process.execPath, [WRITER, JSON.stringify({ dataDir, durability: sc.durability, maxWrites: 60, refusalsBeforeStop: sc.transient ? 1000 : 4 })], live, { UV_THREADPOOL_SIZE: '1' })
        const open = await child.waitFor(m => m.t === 'open', 'open')
        const log = open.logs[0] as string
        expect(log, 'LevelDB log file').toBeTruthy()
        const strace = spawn('strace', ['-f', '-qq', '-o', '/dev/null', '-p', String(open.pid), '-P', log, '-e', `trace=${sc.syscalls}`, '-e', `inject=${sc.syscalls}:error=${sc.error}:when=${n}${sc.transient ? '' : '+'}`], { stdio: ['ignore', 'ignore', 'pipe'] })
        tracers.add(strace)
        // taken now: strace ends by itself once the child exits, which can
        // happen before the parent has read 'done'; a once(strace, 'close')
        // called after that never resolves (a CI run and a local long run
        // hung there)
        const straceClosed = once(strace, 'close').catch(() => {})
        let straceErr = ''
        strace.stderr.setEncoding('utf8').on('data', (c: string) => { straceErr += c })
        // attached once the tracee's status shows a tracer
        const until = Date.now() + 10_000
        while (Date.now() < until) {
          const status = execFileSync('cat', [`/proc/${open.pid}/status`]).toString()
          if (!/TracerPid:\s+0\b/.test(status)) break
          if (strace.exitCode != null) throw new Error(`strace could not attach: ${straceErr}`)
          await new Promise(resolve => setTimeout(resolve, 50))
        }
        await new Promise(resolve => setTimeout(resolve, 200)) // every thread attached
        child.send('go')
        const done = await child.waitFor(m => m.t === 'done', 'done', 120_000)
        // the child exits by itself after 'done', and strace ends with its
        // tracee. A SIGTERM sent while the child's threads are exiting made
        // strace's detach wait for a thread that never reported (a CI run
        // waited 30 s), so strace is only killed if it outlives the child,
        // and then with SIGKILL: the kernel detaches every tracee at once.
        await child.exited(60_000)
        try {
          await deadline(straceClosed, 10_000, 'strace to end with its tracee')
        } catch {
          strace.kill('SIGKILL')
          await deadline(straceClosed, 10_000, 'strace to end after SIGKILL')
        }
        tracers.delete(strace)
        const acks: Ack[] = child.lines.flatMap((m): Ack[] => m.t === 'block' ? [{ kind: 'block', height: m.height, cid: m.cid }] : m.t === 'blob' ? [{ kind: 'blob', cid: m.cid }] : [])
        const refused = child.lines.filter(m => m.t === 'refused')
        for (const r of refused) names.add(r.name)
        if (refused.length > 0) totals.injected++
        // a failed store says so: not live (only a restart clears it), status names the failure
        if (refused.length > 0 && (done.live !== false || !/LevelDB write failed/.test(String(done.writesRefused)))) totals.unreported++
        if (process.env.IO_DEBUG != null) {
          const shown = refused.filter(r => process.env.IO_DEBUG === 'all' || r.name !== 'WriteFailedError')
          console.log(`${sc.name} N=${n}: acks=${acks.length} refused=${refused.length} done=${JSON.stringify(done)}`, shown.map(r => `${r.op} ${r.name}: ${r.message}`).join(' | '))
        }
        let result: { lost: string[], corrupt: string[] }
        try {
          // a reopen that hangs fails this point instead of the suite's 15-minute timeout
          result = await deadline(verifyAcks(dataDir, acks), 120_000, `the reopen of ${dataDir}`)
        } catch (err) {
          totals.failedOpens++
          openFailures.push(`N=${n}: ${(err as Error).name}: ${(err as Error).message}`)
          result = { lost: [`reopen failed: ${(err as Error).name}: ${(err as Error).message}`], corrupt: [] }
        }
        totals.acks += acks.length
        totals.refused += refused.length
        totals.lost += result.lost.length
        totals.corrupt += result.corrupt.length
        if (result.lost.length + result.corrupt.length > 0) console.log(`${sc.name} N=${n}: ${[...result.lost, ...result.corrupt].slice(0, 5).join('; ')} (done: ${JSON.stringify(done)})`)
      }
      figures.push(`[faults:io] ${sc.name}${sc.transient ? '' : '+'} points=${POINTS} acknowledged=${totals.acks} refused=${totals.refused} lost=${totals.lost} corrupt=${totals.corrupt} failedOpens=${totals.failedOpens} errors=${[...names].join(',')}${sc.known != null ? ` KNOWN BUG: ${sc.known}` : ''}`)
      expect(totals.injected, 'no write was refused: the injection did not reach LevelDB').toBe(POINTS)
      expect(totals.unreported, 'points where health stayed live or status().writesRefused was empty after a refused write').toBe(0)
      expect([...names]).toEqual(['WriteFailedError'])
      expect(totals.failedOpens, openFailures.join('; ')).toBe(0)
      expect(totals.lost).toBe(0)
      expect(totals.corrupt).toBe(0)
    })
  }
})
