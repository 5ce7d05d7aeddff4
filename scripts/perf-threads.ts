/**
 * Where a process's CPU went, by thread and by what ran, from `perf script`
 * output (perf samples only what is on a CPU, unlike V8's wall-clock CPU
 * profile; docs/PITFALLS.md says why that matters for busy peers).
 *
 *   perf record -e cpu-clock -F 999 -a -g -o /tmp/p.data   # node started with --perf-basic-prof
 *   perf script -i /tmp/p.data -F comm,pid,tid,ip,sym,dso > /tmp/p.txt
 *   npx node scripts/perf-threads.ts /tmp/p.txt [pid,pid…] [--top 15]
 *
 * Without pids: the five processes with the most samples. Per thread kind
 * (MainThread, V8Worker, libuv-worker, where LevelDB writes and compacts) it
 * groups each sample by its call chain: GC, compiler, ChaCha20-Poly1305,
 * SHA-256, signatures, else the outermost chainstore function (src/…), else
 * the outermost package, else the leaf symbol.
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '15' } } })
const top = Number(values.top)
interface Sample { comm: string, pid: string, frames: string[] }

const samples: Sample[] = []
let cur: Sample | null = null
for (const line of readFileSync(positionals[0], 'utf8').split('\n')) {
  if (line.trim() === '') { if (cur != null) samples.push(cur); cur = null; continue }
  const head = /^\s*(.+?)\s+(\d+)\/(\d+)\s*$/.exec(line)
  if (head != null && !line.startsWith('\t')) { cur = { comm: head[1], pid: head[2], frames: [] }; continue }
  if (cur != null) cur.frames.push(line.trim().split(' ').slice(1).join(' '))
}
if (cur != null) samples.push(cur)

function category (frames: string[]): string {
  const s = frames.join(' | ')
  if (/Scaveng|MarkCompact|Heap::|Sweeper|ConcurrentMarking|MinorMark|IncrementalMarking|ArrayBufferSweeper/.test(s)) return 'GC'
  if (/compiler::|maglev::|Compile|Parser/.test(s)) return 'compile'
  if (/ChaCha|chacha|[Pp]oly1305/.test(s)) return 'crypto: chacha20-poly1305'
  if (/sha256|SHA256/.test(s)) return 'crypto: sha-256'
  if (/secp|ed25519|Ed25519|ecdsa|EC_|BN_/.test(s)) return 'crypto: signatures'
  const src = frames.filter(f => f.includes('/src/') && !f.includes('node_modules'))
  if (src.length > 0) return 'src/' + (/\/src\/(\S+?):\d+/.exec(src[src.length - 1])?.[1] ?? '?') + ' ' + (/JS:\S?'?(\S*)/.exec(src[src.length - 1])?.[1] ?? '')
  const pkg = frames.filter(f => f.includes('node_modules/') && !f.includes('node_modules/node/bin'))
  if (pkg.length > 0) return 'pkg ' + (/node_modules\/((@[^/]+\/)?[^/]+)/.exec(pkg[pkg.length - 1])?.[1] ?? '?')
  return (frames[0] ?? '?').replace(/\s*\(\/[^)]*\)/, '').slice(0, 70)
}

const byPid = new Map<string, Sample[]>()
for (const s of samples) byPid.set(s.pid, [...(byPid.get(s.pid) ?? []), s])
const pids = positionals[1] != null
  ? positionals[1].split(',')
  : [...byPid].filter(([pid]) => pid !== '0').sort((a, b) => b[1].length - a[1].length).slice(0, 5).map(([pid]) => pid)
for (const pid of pids) {
  const ss = byPid.get(pid) ?? []
  const kinds = new Map<string, Sample[]>()
  for (const s of ss) kinds.set(s.comm, [...(kinds.get(s.comm) ?? []), s])
  console.log(`pid ${pid}: ${ss.length} samples`)
  for (const [kind, ks] of [...kinds].sort((a, b) => b[1].length - a[1].length)) {
    console.log(`  ${kind}: ${ks.length} (${(ks.length / ss.length * 100).toFixed(1)} % of the process)`)
    const c = new Map<string, number>()
    for (const s of ks) { const k = category(s.frames); c.set(k, (c.get(k) ?? 0) + 1) }
    for (const [k, n] of [...c].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`    ${String(n).padStart(6)} ${(n / ss.length * 100).toFixed(1).padStart(5)} %  ${k}`)
  }
}
