/**
 * `npm run bench [-- --name <name>] [-- --parts ingest,reads,import,coldstart,api,audit,naive,rss,replication,scale,gatewaygc,state,attestations,backup]`
 *
 * Measures chainstore against raw baselines measured in the same run on the
 * same data, prints a table on stdout (progress on stderr) and writes
 * bench/results/<YYYY-MM-DD>-<name>.json. See bench/README.md.
 */
import { rmSync } from 'node:fs'
import { loadavg } from 'node:os'
import { attestationOptionsFromEnv, runAttestations } from './attestations.ts'
import { backupOptionsFromEnv, runBackup } from './backup.ts'
import { cpuMeter, fmt, generateChain, envInt, progress, tempRoot, type CpuShare, type Figure } from './common.ts'
import { gatewayGcOptionsFromEnv, runGatewayGc } from './gateway-gc.ts'
import { coldStartOptionsFromEnv, runColdStart } from './cold-start.ts'
import { runApi } from './api.ts'
import { runAudit } from './audit.ts'
import { importOptionsFromEnv, runImport } from './import.ts'
import { ingestOptionsFromEnv, runIngest } from './ingest.ts'
import { naiveOptionsFromEnv, runNaive } from './naive.ts'
import { readOptionsFromEnv, runReads } from './reads.ts'
import { replicationOptionsFromEnv, runReplication } from './replication.ts'
import { machineInfo, renderTable, writeResults } from './report.ts'
import { liveChildren, rssOptionsFromEnv, runRss } from './rss.ts'
import { runScale, scaleOptionsFromEnv } from './scale.ts'
import { runState, stateOptionsFromEnv } from './state.ts'

const PARTS = ['ingest', 'reads', 'import', 'coldstart', 'api', 'audit', 'naive', 'rss', 'replication', 'scale', 'gatewaygc', 'state', 'attestations', 'backup'] as const
type Part = typeof PARTS[number]

function parseArgs (argv: string[]): { name: string, parts: Set<Part> } {
  let name = 'baseline'
  let parts = new Set<Part>(PARTS)
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2)
    const next = (): string => inline ?? argv[++i] ?? ''
    if (flag === '--name') name = next()
    else if (flag === '--parts') {
      const list = next().split(',').map(s => s.trim()).filter(Boolean)
      for (const p of list) if (!(PARTS as readonly string[]).includes(p)) throw new Error(`--parts: unknown part ${p} (known: ${PARTS.join(', ')})`)
      parts = new Set(list as Part[])
    } else throw new Error(`unknown argument ${argv[i]} (usage: node bench/run.ts [--name <name>] [--parts ${PARTS.join(',')}])`)
  }
  if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new Error(`--name: use letters, digits, '.', '_' or '-', got ${JSON.stringify(name)}`)
  if (parts.has('reads') && !parts.has('ingest')) throw new Error('--parts: reads need ingest (they read the chain it stored)')
  return { name, parts }
}

/** Each part's usual wall time on the 2-core machine (seconds), for the run's ETA. */
const TYPICAL_SECONDS: Record<string, number> = { ingest: 150, reads: 60, import: 40, coldstart: 20, naive: 60, rss: 220, replication: 160, scale: 240, gatewaygc: 25, state: 40, attestations: 120, backup: 60 }

async function main (): Promise<void> {
  const { name, parts } = parseArgs(process.argv.slice(2))
  const started = new Date()
  const machine = machineInfo()
  progress(`chainstore bench "${name}" on ${String(machine.cpuModel)} × ${String(machine.cores)}, node ${process.version}; parts: ${[...parts].join(', ')}`)
  const ingestOpts = ingestOptionsFromEnv()
  const readOpts = readOptionsFromEnv()
  const naiveOpts = naiveOptionsFromEnv()
  const rssOpts = rssOptionsFromEnv(ingestOpts.batchBlocks)
  const replicationOpts = replicationOptionsFromEnv()
  const gatewayGcOpts = gatewayGcOptionsFromEnv()
  const attestationOpts = attestationOptionsFromEnv()
  const stateOpts = stateOptionsFromEnv()
  const importOpts = importOptionsFromEnv()
  const blocks = Math.max(ingestOpts.batchBlocks * 4, envInt('BENCH_BLOCKS', 2_000))
  const figures: Figure[] = []
  const { dir: root, cleanup } = await tempRoot()
  // an interrupted run still removes its temp data and its child processes (rss children, replication peers)
  const onSignal = (signal: NodeJS.Signals): void => {
    for (const child of liveChildren) child.kill('SIGKILL')
    rmSync(root, { recursive: true, force: true })
    process.stderr.write(`bench: ${signal}, removed ${root}\n`)
    process.exit(130)
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  // other work on the machine skews every figure: record the load around the run
  const loadBefore = loadavg()
  if (loadBefore[0] > 0.5) progress(`WARNING: 1-minute load average is ${loadBefore[0].toFixed(2)} before the run; other processes compete for the ${String(machine.cores)} cores`)
  let dataset: Record<string, unknown> = {}
  let cpuShares: Record<string, CpuShare> = {}
  try {
    progress(`generating ${fmt(blocks)} blocks × 100 txs (not timed)`)
    const t0 = performance.now()
    // the naive part takes its transactions from the start of the same chain
    const naiveBlocks = Math.ceil((Math.max(naiveOpts.heliaTxs, naiveOpts.orbitTxs) + 50) / 100)
    const data = generateChain(parts.has('ingest') ? Math.max(blocks, naiveBlocks) : naiveBlocks)
    dataset = { blocks: data.inputs.length, txs: data.txCount, avgTxBytes: data.txBytes, avgBlockBytes: data.blockBytes, generationMs: performance.now() - t0 }
    progress(`chain: ${fmt(data.txCount)} txs, ${fmt(data.txBytes, 1)} bytes/tx encoded, ${fmt(data.blockBytes)} bytes/block (header + pages), generated in ${fmt(performance.now() - t0)} ms`)
    const naiveInputs = data.inputs.slice(0, naiveBlocks)

    const cpu: Record<string, CpuShare> = {}
    // overall progress: parts done, elapsed, and an ETA from each part's usual length on 2 cores, scaled by how this run compares
    let typicalDone = 0
    let doneParts = 0
    const typicalTotal = [...parts].reduce((n, p) => n + (TYPICAL_SECONDS[p] ?? 60), 0)
    const part = async (name: string, fn: () => Promise<void>): Promise<void> => {
      const stop = cpuMeter()
      await fn()
      cpu[name] = stop()
      const c = cpu[name]
      progress(`${name}: ${fmt(c.wallSec)} s; machine busy ${c.machineBusyCores?.toFixed(2) ?? '?'} cores, this process ${c.benchCores.toFixed(2)}, others ${c.otherCores?.toFixed(2) ?? '?'}${name === 'rss' || name === 'replication' ? ` (others include the ${name} children)` : ''}`)
      doneParts++
      typicalDone += TYPICAL_SECONDS[name] ?? 60
      const elapsed = (Date.now() - started.getTime()) / 1000
      const eta = (typicalTotal - typicalDone) * (elapsed / Math.max(1, typicalDone))
      progress(`progress: ${doneParts}/${parts.size} parts (${Math.round(typicalDone / typicalTotal * 100)}% of the usual time), ${fmt(elapsed)} s elapsed, ETA ~${fmt(eta)} s`)
    }
    cpuShares = cpu
    let storeTps = NaN
    let storeLabel = 'storeBlocks (ingest part not run)'
    if (parts.has('ingest')) {
      let ingest: Awaited<ReturnType<typeof runIngest>> | undefined
      await part('ingest', async () => { ingest = await runIngest(root, data, ingestOpts) })
      figures.push(...ingest!.figures)
      data.inputs = []
      const best = ingest!.figures.filter(f => f.id.endsWith('.txPerSec') && f.group === 'ingest').sort((a, b) => b.value - a.value)[0]
      storeTps = best.value
      storeLabel = `chainstore ${best.label}`
      if (parts.has('reads')) await part('reads', async () => { figures.push(...await runReads(ingest!.dataDir, ingest!.index, readOpts)) })
    }
    if (parts.has('audit')) await part('audit', async () => { figures.push(...await runAudit(root)) })
    if (parts.has('api')) await part('api', async () => { figures.push(...await runApi(root)) })
    if (parts.has('coldstart')) await part('coldstart', async () => { figures.push(...await runColdStart(root, coldStartOptionsFromEnv())) })
    if (parts.has('import')) await part('import', async () => { figures.push(...await runImport(root, importOpts)) })
    if (parts.has('naive')) await part('naive', async () => { figures.push(...await runNaive(root, naiveInputs, storeTps, storeLabel, naiveOpts)) })
    if (parts.has('rss')) await part('rss', async () => { figures.push(...await runRss(root, rssOpts)) })
    if (parts.has('replication')) await part('replication', async () => { figures.push(...await runReplication(root, replicationOpts)) })
    if (parts.has('scale')) await part('scale', async () => { figures.push(...await runScale(root, scaleOptionsFromEnv())) })
    if (parts.has('gatewaygc')) await part('gatewaygc', async () => { figures.push(...await runGatewayGc(root, gatewayGcOpts)) })
    if (parts.has('attestations')) await part('attestations', async () => { figures.push(...await runAttestations(root, attestationOpts)) })
    if (parts.has('state')) await part('state', async () => { figures.push(...await runState(root, stateOpts)) })
    if (parts.has('backup')) await part('backup', async () => { figures.push(...await runBackup(root, backupOptionsFromEnv())) })
  } finally {
    await cleanup()
    process.removeListener('SIGINT', onSignal)
    process.removeListener('SIGTERM', onSignal)
  }
  const loadAfter = loadavg()

  const table = renderTable(figures)
  const finished = new Date()
  const record = {
    name,
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    durationSec: (finished.getTime() - started.getTime()) / 1000,
    machine,
    loadAverage: { before: loadBefore, after: loadAfter, note: 'os.loadavg() [1, 5, 15 min]; "before" well above 0 means other processes shared the cores' },
    cpuPerPart: cpuShares,
    settings: { parts: [...parts], ingest: ingestOpts, reads: readOpts, import: importOpts, coldstart: coldStartOptionsFromEnv(), naive: naiveOpts, rss: rssOpts, replication: replicationOpts, gatewaygc: gatewayGcOpts, state: stateOpts, attestations: attestationOpts, chain: { txsPerBlock: 100, dataBytes: 80, seed: 7 } },
    dataset,
    figures: Object.fromEntries(figures.map(f => [f.id, f])),
    goals: figures.filter(f => f.goal != null).map(f => ({ id: f.id, goal: f.goal!.text, met: f.goal!.met, value: f.value, unit: f.unit })),
    table
  }
  const file = await writeResults(name, record)
  process.stdout.write(`\nchainstore bench "${name}": ${String(machine.cpuModel)} × ${String(machine.cores)} cores, ${fmt(Number(machine.totalMemoryBytes) / 2 ** 30, 1)} GiB, node ${process.version}, ${fmt(record.durationSec)} s\n\n`)
  process.stdout.write(table + '\n\n')
  for (const [p, c] of Object.entries(cpuShares)) {
    process.stdout.write(`cpu during ${p}: ${fmt(c.wallSec)} s, machine busy ${c.machineBusyCores?.toFixed(2) ?? '?'} of ${String(machine.cores)} cores, bench ${c.benchCores.toFixed(2)}, others ${c.otherCores?.toFixed(2) ?? '?'}${p === 'rss' || p === 'replication' ? ` (incl. the ${p} children)` : ''}\n`)
  }
  process.stdout.write(`load average before / after: ${loadBefore.map(n => n.toFixed(2)).join(' ')} / ${loadAfter.map(n => n.toFixed(2)).join(' ')}\n`)
  process.stdout.write(`results: ${file}\n`)
}

await main()
