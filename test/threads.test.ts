import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { BACKGROUND_NICE, backgroundNiceFromEnv, lowerBackgroundThreads } from '../src/threads.ts'

const execFileP = promisify(execFile)
const threadsModule = pathToFileURL(resolve('src/threads.ts')).href

/**
 * A child process that writes to a real LevelDB (libuv workers, LevelDB's
 * own thread), lowers its background threads, then starts a worker thread
 * (a thread made after the call, by the main thread) and waits past one
 * rescan; it prints every thread's name and nice value from /proc.
 */
const CHILD = `
import { readdirSync, readFileSync } from 'node:fs'
import { Worker } from 'node:worker_threads'
import { ClassicLevel } from 'classic-level'
import { lowerBackgroundThreads } from '${threadsModule}'
const db = new ClassicLevel(process.argv[1], { writeBufferSize: 1024 * 1024 })
await db.open()
for (let i = 0; i < 20; i++) await db.batch(Array.from({ length: 2000 }, (_, j) => ({ type: 'put', key: i + ':' + j, value: 'x'.repeat(200) })))
const bg = lowerBackgroundThreads(7, { rescanMs: 50 })
const before = bg.lowered
const worker = new Worker('setInterval(() => {}, 1000)', { eval: true })
await new Promise(r => worker.once('online', r))
await new Promise(r => setTimeout(r, 300))
const threads = readdirSync('/proc/self/task').map(t => {
  const stat = readFileSync('/proc/self/task/' + t + '/stat', 'utf8')
  return { tid: Number(t), name: readFileSync('/proc/self/task/' + t + '/comm', 'utf8').trim(), nice: Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]) }
})
console.log(JSON.stringify({ pid: process.pid, before, after: bg.lowered, threads }))
bg.stop()
await worker.terminate()
await db.close()
`

describe('lowerBackgroundThreads', () => {
  it('gives every thread but the main one the nice value, LevelDB\'s and threads started after the call included', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'chainstore-threads-'))
    try {
      const { stdout } = await execFileP(process.execPath, ['--input-type=module', '-e', CHILD, join(dir, 'db')], { timeout: 60_000 })
      const out = JSON.parse(stdout.trim().split('\n').pop()!) as { pid: number, before: number, after: number, threads: Array<{ tid: number, name: string, nice: number }> }
      const main = out.threads.find(t => t.tid === out.pid)!
      const others = out.threads.filter(t => t.tid !== out.pid)
      expect(main.nice).toBe(0)
      // libuv's pool (4 threads) runs LevelDB's writes; LevelDB's compaction thread, started from one, carries its name
      expect(others.filter(t => t.name === 'libuv-worker').length).toBeGreaterThan(Number(process.env.UV_THREADPOOL_SIZE ?? 4))
      expect(others.some(t => t.name === 'V8Worker')).toBe(true)
      expect(others.filter(t => t.nice !== 7)).toEqual([])
      // the worker's thread (and its own helpers) came after the call: found by a rescan
      expect(out.after).toBeGreaterThan(out.before)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('takes its nice value from CHAINSTORE_BACKGROUND_NICE, 0 leaves threads alone, anything else is refused by name', () => {
    expect(backgroundNiceFromEnv({})).toBe(BACKGROUND_NICE)
    expect(backgroundNiceFromEnv({ CHAINSTORE_BACKGROUND_NICE: '0' })).toBe(0)
    expect(backgroundNiceFromEnv({ CHAINSTORE_BACKGROUND_NICE: '19' })).toBe(19)
    for (const bad of ['20', '-1', '2.5', 'high']) {
      expect(() => backgroundNiceFromEnv({ CHAINSTORE_BACKGROUND_NICE: bad })).toThrow(expect.objectContaining({ name: 'InvalidConfigError', message: expect.stringContaining('CHAINSTORE_BACKGROUND_NICE') }))
    }
    expect(() => lowerBackgroundThreads(25)).toThrow(RangeError)
    const off = lowerBackgroundThreads(0)
    expect(off.lowered).toBe(0)
    off.stop()
  })
})
