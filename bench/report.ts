/**
 * Output of the benchmark: a plain-text table for stdout and the JSON record
 * written to bench/results/<date>-<name>.json.
 */
import { readFileSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { cpus, arch, platform, release, totalmem } from 'node:os'
import { join } from 'node:path'
import { fmt, type Figure } from './common.ts'

/** The machine and software the figures were measured on. */
export function machineInfo (): Record<string, unknown> {
  const cpu = cpus()
  const versions: Record<string, string> = {}
  for (const pkg of ['classic-level', 'helia', '@orbitdb/core', 'blockstore-level', 'libp2p']) {
    try {
      const url = new URL(`../node_modules/${pkg}/package.json`, import.meta.url)
      versions[pkg] = JSON.parse(readFileSync(url, 'utf8')).version
    } catch { versions[pkg] = 'unknown' }
  }
  return {
    cpuModel: cpu[0]?.model ?? 'unknown',
    cores: cpu.length,
    totalMemoryBytes: totalmem(),
    platform: platform(),
    arch: arch(),
    kernel: release(),
    node: process.version,
    v8: process.versions.v8,
    packages: versions
  }
}

function value (n: number, unit: string): string {
  const digits = unit === 'µs' || unit === 'ms' ? (Math.abs(n) < 10 ? 2 : 1) : unit === '%' ? 1 : unit === 'MiB' ? 0 : n < 100 ? 1 : 0
  return `${fmt(n, digits)} ${unit}`
}

/** The figures as an aligned text table, grouped by section. */
export function renderTable (figures: Figure[]): string {
  const header = ['figure', 'chainstore', 'raw baseline', 'baseline', 'ratio', 'goal']
  const rows: string[][] = []
  let group = ''
  for (const f of figures) {
    if (f.group !== group) {
      group = f.group
      rows.push([`## ${group}`, '', '', '', '', ''])
    }
    rows.push([
      f.label,
      value(f.value, f.unit),
      f.baseline?.label ?? '',
      f.baseline != null ? value(f.baseline.value, f.unit) : '',
      f.ratio != null ? `${f.ratio.toFixed(f.ratio < 10 ? 2 : 0)}×` : '',
      f.goal != null ? `${f.goal.met ? 'MET' : 'NOT MET'}: ${f.goal.text}` : ''
    ])
  }
  const width = header.map((h, i) => Math.max(h.length, ...rows.filter(r => !r[0].startsWith('## ')).map(r => r[i].length)))
  const line = (r: string[]): string => r.map((c, i) => (i === 1 || i === 3 || i === 4) ? c.padStart(width[i]) : c.padEnd(width[i])).join(' | ').trimEnd()
  const out = [line(header), width.map(w => '-'.repeat(w)).join('-|-')]
  for (const r of rows) out.push(r[0].startsWith('## ') ? r[0] : line(r))
  return out.join('\n')
}

/** Writes the JSON record; returns its path. */
export async function writeResults (name: string, record: Record<string, unknown>): Promise<string> {
  const dir = join(import.meta.dirname, 'results')
  await mkdir(dir, { recursive: true })
  const date = new Date().toISOString().slice(0, 10)
  const file = join(dir, `${date}-${name}.json`)
  await writeFile(file, JSON.stringify(record, null, 2) + '\n')
  return file
}
