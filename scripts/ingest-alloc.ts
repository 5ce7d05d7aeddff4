/**
 * Bytes allocated on V8's heap per ingested transaction, by where they were
 * allocated: generates `N` blocks of the bench chain (100 transactions
 * each, not sampled), then samples the heap (V8's sampling profiler,
 * collected objects counted too) while `storeBlocks` stores them, 10 blocks
 * per call and 2 calls in flight as the bench's ingest part does. Prints
 * the total per transaction and the top allocation sites (own bytes, and
 * with what they call). Off-heap bytes (ArrayBuffer backing stores: the
 * writers' pages, slabs, LevelDB's copies) are not on V8's heap and are not
 * counted; their JavaScript views and objects are.
 *
 * `CALLERS=subarray` also prints who calls the sites of that name, by
 * the bytes they allocate there.
 *
 *   N=500 npx node scripts/ingest-alloc.ts
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { Session } from 'node:inspector/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createChainStore } from '../src/index.ts'
import { createLogger } from '../src/logger.ts'
import { SyntheticChain } from '../src/synthetic/chain.ts'

interface Node { callFrame: { functionName: string, url: string, lineNumber: number }, selfSize: number, children?: Node[] }

const blocks = Math.max(10, Number(process.env.N ?? 500))
const top = Number(process.env.TOP ?? 25)
const dir = mkdtempSync(join(tmpdir(), 'chainstore-ingest-alloc-'))
try {
  const store = await createChainStore({ dataDir: dir, network: { enabled: false } }, { logger: createLogger({ level: 'silent' }) })
  const inputs = new SyntheticChain({ seed: 7, txsPerBlock: 100, dataBytes: 80 }).take(blocks, store.config.limits)
  // warm-up (JIT), not sampled
  const warm = Math.min(50, Math.floor(blocks / 5))
  for (let i = 0; i < warm; i += 10) await store.storeBlocks(inputs.slice(i, i + 10))
  const session = new Session()
  session.connect()
  await session.post('HeapProfiler.startSampling', { samplingInterval: 512, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true })
  const inflight: Array<Promise<unknown>> = []
  for (let i = warm; i < inputs.length; i += 10) {
    inflight.push(store.storeBlocks(inputs.slice(i, i + 10)))
    if (inflight.length >= 2) await inflight.shift()
  }
  await Promise.all(inflight)
  const { profile } = await session.post('HeapProfiler.stopSampling') as unknown as { profile: { head: Node } }
  session.disconnect()
  await store.stop()
  const txs = (inputs.length - warm) * 100
  const own = new Map<string, number>()
  const inclusive = new Map<string, number>()
  let total = 0
  const name = (n: Node): string => `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.split('/').slice(-2).join('/')}:${n.callFrame.lineNumber + 1}`
  const walk = (n: Node, stack: Set<string>): number => {
    const k = name(n)
    let sum = n.selfSize
    if (n.selfSize > 0) own.set(k, (own.get(k) ?? 0) + n.selfSize)
    const inner = new Set(stack).add(k)
    for (const c of n.children ?? []) sum += walk(c, inner)
    if (!stack.has(k)) inclusive.set(k, (inclusive.get(k) ?? 0) + sum)
    return sum
  }
  total = walk(profile.head, new Set())
  const callers = new Map<string, number>()
  const focus = process.env.CALLERS
  const depth = Number(process.env.CALLER_DEPTH ?? 1)
  const byCaller = (n: Node, stack: string[]): void => {
    const k = name(n)
    if (focus != null && n.callFrame.functionName === focus && n.selfSize > 0) {
      const at = stack.slice(-depth).join(' < ')
      callers.set(at, (callers.get(at) ?? 0) + n.selfSize)
    }
    for (const c of n.children ?? []) byCaller(c, [...stack, k])
  }
  byCaller(profile.head, [])
  const show = (m: Map<string, number>): string => [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, v]) => `  ${(v / txs).toFixed(0).padStart(6)} B/tx  ${k}`).join('\n')
  process.stdout.write(`${txs} txs stored: ${(total / txs).toFixed(0)} bytes allocated on the heap per transaction\nown bytes:\n${show(own)}\nwith what they call:\n${show(inclusive)}\n${focus != null ? `callers of ${focus}:\n${show(callers)}\n` : ''}`)
} finally {
  rmSync(dir, { recursive: true, force: true })
}
