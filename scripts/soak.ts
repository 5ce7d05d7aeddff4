/**
 * Soak: a 3-peer devnet (127.0.0.1) at a fixed write rate for a chosen time,
 * sampling every peer's RSS, heap after GC (peers run with --expose-gc), open
 * file descriptors (/proc/<pid>/fd), data dir size (du) and the writer's p99
 * write latency per interval. Writes bench/results/soak-<date>.json (samples)
 * and .svg (one panel per series) and prints the heap slope per peer (MiB/hour,
 * least squares over the samples after the first minute, and again after
 * `--warmup` minutes) and each peer's RSS band after the warm-up (lowest and
 * highest sample, as ± % of their mean), also split into its anonymous and
 * file-backed parts. Bounded caches (signature memo,
 * rejection tallies, the fold's window) take several minutes to fill at a
 * few blocks/s; the slope after the warm-up is the one that says whether
 * memory keeps growing, and the longer the run, the firmer it is.
 *
 * The writer finalizes the block `--finality-lag` heights below its head after
 * every write (announced in the chain index, as a chain with finality does;
 * `--finality-lag -1`: nothing is ever finalized). `--snapshots 2,8` writes a
 * V8 heap snapshot of every peer at those minutes into `--snapshot-dir`, to
 * compare with scripts/heap-diff.ts.
 *
 *   npm run soak -- --minutes 30 [--rate 5] [--sample 15] [--warmup 10] [--finality-lag 32] [--snapshots 2,8]
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { PeerProcess } from '../src/devnet/controller.ts'
import { identityIdFromSeed } from '../src/replication/keys.ts'

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '30' }, rate: { type: 'string', default: '5' }, sample: { type: 'string', default: '15' }, warmup: { type: 'string', default: '10' }, out: { type: 'string', default: 'bench/results' }, 'finality-lag': { type: 'string', default: '32' }, snapshots: { type: 'string', default: '' }, 'snapshot-dir': { type: 'string', default: 'bench/snapshots' } } })
const minutes = Number(values.minutes); const rate = Number(values.rate); const sampleSec = Number(values.sample)
const finalityLag = Number(values['finality-lag'])
const warmupSec = Number(values.warmup) * 60
const snapshotAt = values.snapshots === '' ? [] : values.snapshots!.split(',').map(Number)
const NAMES = ['writer-1', 'reader-2', 'reader-3']
const dir = mkdtempSync(join(tmpdir(), 'chainstore-soak-'))

interface Sample { t: number, peer: string, rssMiB: number, rssAnonMiB: number | null, rssFileMiB: number | null, heapMiB: number, fds: number, diskMiB: number, height: number, p99ms: number | null, writes: number }
const samples: Sample[] = []
const peers: PeerProcess[] = []

const MiB = (n: number): number => Math.round(n / 1048576 * 100) / 100
/**
 * A process's anonymous and file-backed resident memory (/proc/<pid>/status
 * RssAnon, RssFile; nulls off Linux). The file-backed part is mostly
 * LevelDB's memory-mapped table files, which grows with the data and is
 * page cache the kernel reclaims (docs/PITFALLS.md); growth that would be a
 * leak shows in the anonymous part.
 */
function rssParts (pid: number): { anon: number | null, file: number | null } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kB = (name: string): number | null => { const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status); return m == null ? null : Math.round(Number(m[1]) / 1024 * 100) / 100 }
    return { anon: kB('RssAnon'), file: kB('RssFile') }
  } catch {
    return { anon: null, file: null }
  }
}
const du = (path: string): number => Number(execFileSync('du', ['-sb', path]).toString().split('\t')[0])

async function main (): Promise<void> {
  const writers = [identityIdFromSeed('writer-1')]
  const cfg = (name: string, peersList: string[]): any => ({ dataDir: join(dir, name), logLevel: 'silent', network: { enabled: true, seed: name, writers, peers: peersList, intervalMs: 1000 } })
  const w = await PeerProcess.start(cfg('writer-1', []), { execArgv: ['--expose-gc'], stdio: 'ignore' })
  peers.push(w)
  const a = (await w.call('info')).addresses[0]
  for (const n of NAMES.slice(1)) peers.push(await PeerProcess.start(cfg(n, [a]), { execArgv: ['--expose-gc'], stdio: 'ignore' }))
  const started = Date.now()
  const end = started + minutes * 60_000
  let latencies: number[] = []
  let writes = 0
  // the writer: one block per 1/rate s, in chunks of one sample interval
  const writing = (async () => {
    while (Date.now() < end) {
      const n = Math.max(1, Math.round(rate * Math.min(sampleSec, (end - Date.now()) / 1000)))
      const res = await w.call('ingest', { count: n, txs: 50, seed: 5, ratePerSec: rate, finalityLag: finalityLag >= 0 ? finalityLag : undefined })
      latencies.push(...res.latencies)
      writes += res.stored.length
    }
  })()
  let next = started
  while (Date.now() < end) {
    next += sampleSec * 1000
    await new Promise(resolve => setTimeout(resolve, Math.max(0, next - Date.now())))
    const lat = latencies.sort((x, y) => x - y); latencies = []
    const p99 = lat.length === 0 ? null : Math.round(lat[Math.min(lat.length - 1, Math.ceil(0.99 * lat.length) - 1)] * 10) / 10
    for (const [i, p] of peers.entries()) {
      const m = await p.call('memory')
      const head = await p.call('head')
      const parts = rssParts(p.child.pid!)
      samples.push({ t: Math.round((Date.now() - started) / 1000), peer: NAMES[i], rssMiB: MiB(m.rss), rssAnonMiB: parts.anon, rssFileMiB: parts.file, heapMiB: MiB(m.heapUsed), fds: readdirSync(`/proc/${p.child.pid}/fd`).length, diskMiB: MiB(du(join(dir, NAMES[i]))), height: head?.height ?? -1, p99ms: i === 0 ? p99 : null, writes })
    }
    while (snapshotAt.length > 0 && Date.now() - started >= snapshotAt[0] * 60_000) {
      const m = snapshotAt.shift()!
      mkdirSync(values['snapshot-dir']!, { recursive: true })
      for (const [i, p] of peers.entries()) {
        const { path } = await p.call('heapSnapshot', { path: join(values['snapshot-dir']!, `${NAMES[i]}-${m}min.heapsnapshot`) })
        console.log(`[soak] heap snapshot ${path} at height ${samples[samples.length - peers.length + i].height}`)
      }
    }
    const last = samples.slice(-3)
    console.log(`[soak] t=${last[0].t}s height=${last.map(s => s.height).join('/')} heap=${last.map(s => s.heapMiB).join('/')}MiB rss=${last.map(s => s.rssMiB).join('/')}MiB (anon ${last.map(s => s.rssAnonMiB).join('/')}) fds=${last.map(s => s.fds).join('/')} disk=${last.map(s => s.diskMiB).join('/')}MiB p99=${p99}ms`)
  }
  await writing
}

/** Least-squares slope of y over t (seconds), in units per hour. */
function slopePerHour (pts: Array<[number, number]>): number {
  const n = pts.length
  if (n < 2) return NaN
  const mt = pts.reduce((s, p) => s + p[0], 0) / n; const my = pts.reduce((s, p) => s + p[1], 0) / n
  let num = 0; let den = 0
  for (const [t, y] of pts) { num += (t - mt) * (y - my); den += (t - mt) ** 2 }
  return den === 0 ? NaN : num / den * 3600
}

function svg (): string {
  const series: Array<[keyof Sample, string]> = [['heapMiB', 'heap after GC (MiB)'], ['rssMiB', 'RSS (MiB)'], ['rssAnonMiB', 'RSS, anonymous part (MiB)'], ['fds', 'open fds'], ['diskMiB', 'data dir (MiB)'], ['p99ms', 'writer p99 latency (ms)']]
  const W = 900; const H = 170; const colors = ['#1f77b4', '#d62728', '#2ca02c']
  const tMax = Math.max(1, ...samples.map(s => s.t))
  let out = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H * series.length + 30}" font-family="sans-serif" font-size="11">`
  out += `<text x="10" y="16" font-size="13">chainstore soak: ${minutes} min, ${rate} blocks/s, finality lag ${finalityLag}, 3 peers (${NAMES.map((n, i) => `<tspan fill="${colors[i]}">${n}</tspan>`).join(', ')})</text>`
  series.forEach(([key, label], k) => {
    const y0 = 30 + k * H
    const vals = samples.map(s => s[key] as number | null).filter((v): v is number => v != null)
    const vMax = Math.max(1, ...vals) * 1.1
    out += `<text x="10" y="${y0 + 12}">${label} (max ${Math.max(0, ...vals)})</text><rect x="60" y="${y0 + 18}" width="${W - 80}" height="${H - 40}" fill="none" stroke="#ccc"/>`
    NAMES.forEach((name, i) => {
      const pts = samples.filter(s => s.peer === name && s[key] != null).map(s => `${(60 + s.t / tMax * (W - 80)).toFixed(1)},${(y0 + H - 22 - (s[key] as number) / vMax * (H - 40)).toFixed(1)}`)
      if (pts.length > 0) out += `<polyline fill="none" stroke="${colors[i]}" stroke-width="1.5" points="${pts.join(' ')}"/>`
    })
  })
  return out + '</svg>\n'
}

try {
  await main()
} finally {
  await Promise.all(peers.map(async p => await p.stop().catch(() => p.kill())))
  rmSync(dir, { recursive: true, force: true })
}
mkdirSync(values.out!, { recursive: true })
const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)
type Series = 'heapMiB' | 'rssMiB' | 'rssAnonMiB' | 'rssFileMiB'
/** A peer's (t, value) points of one series from second `from` on. */
const points = (peer: string, key: Series, from: number): Array<[number, number]> =>
  samples.filter(s => s.peer === peer && s.t >= from && s[key] != null).map(s => [s.t, s[key]!])
const round2 = (n: number): number => Math.round(n * 100) / 100
/** Each peer's slope of one series from second `from` on, MiB/hour. */
const slopesOf = (key: Series, from: number): Record<string, number> => Object.fromEntries(NAMES.map(n => [n, round2(slopePerHour(points(n, key, from)))]))
const slopes = slopesOf('heapMiB', 60)
const rssSlopes = slopesOf('rssMiB', 60)
const warmSlopes = slopesOf('heapMiB', warmupSec)
// the time after the warm-up in two halves: a slope that falls from the first to the second is bounded
// structures still filling (caches, memos, windows); one that holds is growth (docs/FAULTS.md, soak)
const endSec = samples.reduce((m, s) => Math.max(m, s.t), 0)
const midSec = (warmupSec + endSec) / 2
const halvesOf = (key: Series): Record<string, [number, number]> => Object.fromEntries(NAMES.map(n => {
  const pts = points(n, key, warmupSec)
  return [n, [round2(slopePerHour(pts.filter(p => p[0] < midSec))), round2(slopePerHour(pts.filter(p => p[0] >= midSec)))]]
}))
const heapHalves = halvesOf('heapMiB')
/** A series after the warm-up: lowest, highest, their spread as ± % of their mean, and its slope. */
const band = (key: Series): Record<string, unknown> => Object.fromEntries(NAMES.map(n => {
  const pts = points(n, key, warmupSec)
  if (pts.length === 0) return [n, null]
  const v = pts.map(p => p[1])
  const lo = Math.min(...v); const hi = Math.max(...v)
  return [n, { minMiB: lo, maxMiB: hi, plusMinusPct: Math.round((hi - lo) / (hi + lo) * 1000) / 10, slopeMiBPerHour: round2(slopePerHour(pts)) }]
}))
const rssBand = band('rssMiB')
const anonBand = band('rssAnonMiB')
const fileBand = band('rssFileMiB')
const p99s = samples.filter(s => s.p99ms != null).map(s => s.p99ms!)
writeFileSync(join(values.out!, `soak-${stamp}.json`), JSON.stringify({ minutes, rate, sampleSec, finalityLag, warmupMinutes: warmupSec / 60, heapSlopeMiBPerHour: slopes, heapSlopeAfterWarmupMiBPerHour: warmSlopes, heapSlopeHalvesAfterWarmupMiBPerHour: heapHalves, rssSlopeMiBPerHour: rssSlopes, rssAfterWarmup: rssBand, rssAnonAfterWarmup: anonBand, rssFileAfterWarmup: fileBand, samples }, null, 1))
writeFileSync(join(values.out!, `soak-${stamp}.svg`), svg())
const last = samples.slice(-3)
console.log(`[soak] done: ${minutes} min at ${rate} blocks/s, final height ${last.map(s => s.height).join('/')}, heap slope ${JSON.stringify(slopes)} MiB/h (after ${warmupSec / 60} min: ${JSON.stringify(warmSlopes)}; its first and second halves: ${JSON.stringify(heapHalves)}), rss after ${warmupSec / 60} min ${JSON.stringify(rssBand)}, of which anonymous ${JSON.stringify(anonBand)} and file-backed ${JSON.stringify(fileBand)}, rss slope ${JSON.stringify(rssSlopes)} MiB/h, fds ${last.map(s => s.fds).join('/')}, disk ${last.map(s => s.diskMiB).join('/')} MiB, writer p99 max ${Math.max(0, ...p99s)} ms -> ${values.out}/soak-${stamp}.{json,svg}`)
process.exit(0)
