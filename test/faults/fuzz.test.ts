/**
 * Fuzzing, CI budget: every decoder target of fuzz/targets.ts for
 * FUZZ_SECONDS each (default 10) in a child process (the engine reads V8
 * coverage through the inspector, which must not see vitest's own code).
 * `npm run fuzz` runs the long budget; FUZZ_SEED reproduces a run.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const RUNNER = fileURLToPath(new URL('../../fuzz/run.ts', import.meta.url))
const SECONDS = Number(process.env.FUZZ_SECONDS ?? 10)
const TARGETS = 24

describe('fuzzing the decoders of network and disk bytes', () => {
  it('no decoder throws anything but its typed errors', async () => {
    const args = [RUNNER, '--seconds', String(SECONDS), ...(process.env.FUZZ_SEED != null ? ['--seed', process.env.FUZZ_SEED] : [])]
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (c: string) => { out += c })
    child.stderr.setEncoding('utf8').on('data', (c: string) => { out += c })
    const [code] = await once(child, 'close') as [number | null]
    const summary = out.split('\n').find(l => l.startsWith('[faults:fuzz]')) ?? ''
    console.log(out.split('\n').filter(l => l.startsWith('[fuzz]') || l.startsWith('  ')).join('\n'))
    console.log(summary)
    expect(summary, out.slice(-4000)).toMatch(/crashes=0 /)
    expect(code, out.slice(-4000)).toBe(0)
    expect(Number(/targets=(\d+)/.exec(summary)?.[1])).toBe(TARGETS)
  }, 120_000 + TARGETS * SECONDS * 1500)
})
