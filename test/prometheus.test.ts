import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startReadApi, type ReadApi } from '../src/api/server.ts'
import { openTestStore, quietLogger, tempDir } from './helpers/store.ts'
import { freePort, until } from './helpers/wait.ts'

/**
 * ops/prometheus and ops/grafana against the real thing: promtool checks and
 * unit-tests the alerting rules; Debian's prometheus scrapes a live node with
 * them loaded; every metric the rules and the Grafana dashboard name must be
 * one the node exports.
 */

const root = fileURLToPath(new URL('..', import.meta.url))
const RULES = join(root, 'ops/prometheus/chainstore.rules.yml')
const RULE_TESTS = join(root, 'ops/prometheus/chainstore.rules.test.yml')
const EXAMPLE_CONFIG = join(root, 'ops/prometheus/prometheus.yml')
const DASHBOARD = join(root, 'ops/grafana/chainstore.json')
const ALERTS = [
  'ChainstoreReplicationLag', 'ChainstorePeerLagging', 'ChainstoreNoPeers', 'ChainstoreOperationSlow',
  'ChainstoreDataDirLarge', 'ChainstoreEntriesRejected', 'ChainstorePinsFailed', 'ChainstoreCorruptReads'
]

function hasBinary (name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`]).status === 0
}

/** Fails (never skips) when a binary of Debian's `prometheus` package is missing. */
function requireBinary (name: string): void {
  if (!hasBinary(name)) {
    throw new Error(`${name} not found on PATH: install the \`prometheus\` Debian package (apt-get install -y prometheus; .ci/run does this)`)
  }
}

function run (cmd: string, args: string[]): { status: number | null, output: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', cwd: root, timeout: 60_000 })
  return { status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error != null ? String(r.error) : ''}` }
}


const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'and', 'or', 'unless', 'atan2', 'inf', 'nan', 'start', 'end'])

/**
 * Metric names a PromQL expression reads: identifiers that are not functions,
 * keywords, label names (in matchers and in by/on/without/ignoring lists) or
 * Grafana variables.
 */
function metricNames (expr: string): string[] {
  let s = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\$\{?\w+\}?/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
  // numbers and durations (0.99, 2e1, 15m, 1h30m)
  s = s.replace(/(?<![\w.:])\.?\d[\w.]*/g, ' ')
  const names = new Set<string>()
  for (const m of s.matchAll(/(?<![\w:])([A-Za-z_:][\w:]*)(\s*\()?/g)) {
    if (m[2] != null) continue // a function (or an aggregation's parameter list)
    if (KEYWORDS.has(m[1].toLowerCase())) continue
    names.add(m[1])
  }
  return [...names]
}

/** Metric names in a Prometheus text exposition, with a histogram's and summary's series names. */
function exportedNames (text: string): Set<string> {
  const names = new Set<string>()
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line)
    if (type != null) {
      names.add(type[1])
      if (type[2] === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(type[1] + suffix)
      if (type[2] === 'summary') for (const suffix of ['_sum', '_count']) names.add(type[1] + suffix)
      continue
    }
    const sample = /^([A-Za-z_:][\w:]*)[{ ]/.exec(line)
    if (sample != null) names.add(sample[1])
  }
  return names
}

interface Dashboard {
  schemaVersion: number
  templating: { list: Array<{ name: string, type: string, query: unknown, definition?: string }> }
  panels: Array<{ type: string, title: string, datasource?: { type: string, uid: string }, targets?: Array<{ expr: string }> }>
}

async function dashboard (): Promise<Dashboard> {
  return JSON.parse(await readFile(DASHBOARD, 'utf8')) as Dashboard
}

/** Every PromQL expression in the dashboard, with Grafana's variables still in. */
function dashboardExprs (d: Dashboard): string[] {
  const exprs = d.panels.flatMap(p => (p.targets ?? []).map(t => t.expr))
  for (const v of d.templating.list) {
    if (v.type !== 'query') continue
    const q = v.definition ?? (typeof v.query === 'string' ? v.query : (v.query as { query: string }).query)
    // label_values(metric, label): the metric is what must exist
    const lv = /^label_values\(\s*([^,)]+)/.exec(q)
    exprs.push(lv != null ? lv[1] : q)
  }
  return exprs
}

describe('Prometheus rules: promtool', () => {
  it('promtool check rules ops/prometheus/chainstore.rules.yml', () => {
    requireBinary('promtool')
    const r = run('promtool', ['check', 'rules', RULES])
    expect(r.status, r.output).toBe(0)
    expect(r.output).toContain(`SUCCESS: ${ALERTS.length} rules found`)
  })

  it('promtool test rules ops/prometheus/chainstore.rules.test.yml: every alert fires and clears as expected', async () => {
    requireBinary('promtool')
    const r = run('promtool', ['test', 'rules', RULE_TESTS])
    expect(r.status, r.output).toBe(0)
    expect(r.output).toContain('SUCCESS')
    // each alert has a case that fires and one that does not
    const tests = await readFile(RULE_TESTS, 'utf8')
    for (const alert of ALERTS) {
      const cases = tests.split('- eval_time:').filter(c => c.includes(`alertname: ${alert}\n`))
      expect(cases.some(c => c.includes('exp_alerts: []')), `${alert} has a not-firing case`).toBe(true)
      expect(cases.some(c => c.includes('exp_labels:')), `${alert} has a firing case`).toBe(true)
    }
  })

  it('promtool check config ops/prometheus/prometheus.yml (the example loads the rules)', () => {
    requireBinary('promtool')
    const r = run('promtool', ['check', 'config', EXAMPLE_CONFIG])
    expect(r.status, r.output).toBe(0)
    expect(r.output).toContain(`SUCCESS: ${ALERTS.length} rules found`)
  })

  it('the Grafana dashboard is valid JSON on a ${DS_PROMETHEUS} datasource variable', async () => {
    const d = await dashboard()
    expect(d.schemaVersion).toBe(39)
    expect(d.templating.list.find(v => v.name === 'DS_PROMETHEUS')).toMatchObject({ type: 'datasource', query: 'prometheus' })
    const queries = d.panels.filter(p => p.type !== 'row')
    expect(queries.length).toBeGreaterThan(10)
    for (const p of queries) {
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${DS_PROMETHEUS}' })
      expect(p.targets?.length, p.title).toBeGreaterThan(0)
    }
    const titles = queries.map(p => p.title).join('\n')
    for (const shown of ['Head', 'Blocks per second', 'Transactions per second', 'p99 by operation', 'p50 by operation', 'Connected peers', 'Replication lag', 'Pins by state', 'Cache hit ratio', 'Disk', 'Corrupt reads']) {
      expect(titles).toContain(shown)
    }
  })

  it('metricNames reads metric names, not functions, labels, keywords or variables', () => {
    expect(metricNames('histogram_quantile(0.99, sum by (le, op) (rate(a_bucket{instance=~"$instance"}[$__rate_interval]))) > 0.5 and on (job) b_count >= 2e1')).toEqual(['a_bucket', 'b_count'])
    expect(metricNames('(x unless x offset 15m) and on (job, instance) y offset 5m or increase(z[15m])')).toEqual(['x', 'y', 'z'])
    expect(metricNames('c > 100 * 1024 ^ 3 or c and on (job, instance) d{alert="disk-usage"} == 1')).toEqual(['c', 'd'])
  })
})

describe('a live node scraped by Debian\'s prometheus with the rules loaded', () => {
  let t: Awaited<ReturnType<typeof openTestStore>> | undefined
  let api: ReadApi | undefined
  let tmp: Awaited<ReturnType<typeof tempDir>> | undefined
  let prometheus: ChildProcess | undefined
  let prometheusLog = ''
  let promUrl = ''

  /** Each test's first step: the binary, then the node and Prometheus beforeAll started. */
  const ready = (): void => {
    requireBinary('prometheus')
    if (t == null || api == null || promUrl === '') throw new Error('the node or prometheus did not start (see beforeAll)')
  }
  const query = async (q: string): Promise<any> => {
    const r = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`)
    return await r.json()
  }
  /** The value Prometheus holds for a query with one series, or undefined. */
  const value = async (q: string): Promise<number | undefined> => {
    const body = await query(q)
    const v = body?.data?.result?.[0]?.value?.[1]
    return v == null ? undefined : Number(v)
  }

  beforeAll(async () => {
    // without the binary each test below fails with the install hint (vitest would report a throwing hook's tests as skipped)
    if (!hasBinary('prometheus')) return
    t = await openTestStore()
    await t.store.storeBlocks(t.chain.take(5, t.store.config.limits))
    for (let i = 0; i < 25; i++) await t.store.getBlock(i % 5)
    api = await startReadApi(t.store, { host: '127.0.0.1', port: 0, logger: quietLogger })
    tmp = await tempDir('chainstore-prometheus-')
    const target = new URL(api.url).host
    const config = join(tmp.dir, 'prometheus.yml')
    // the node runs without replication: its chainstore_network_enabled 0 keeps ChainstoreNoPeers quiet
    await writeFile(config, [
      'global:',
      '  scrape_interval: 1s',
      '  evaluation_interval: 1s',
      'rule_files:',
      `  - ${JSON.stringify(RULES)}`,
      'scrape_configs:',
      '  - job_name: chainstore',
      '    static_configs:',
      `      - targets: [${JSON.stringify(target)}]`,
      ''
    ].join('\n'))
    const port = await freePort()
    prometheus = spawn('prometheus', [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(tmp.dir, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn'
    ], { stdio: ['ignore', 'pipe', 'pipe'] })
    prometheus.stdout?.on('data', (d: Buffer) => { prometheusLog += d.toString() })
    prometheus.stderr?.on('data', (d: Buffer) => { prometheusLog += d.toString() })
    const started = prometheus
    const url = `http://127.0.0.1:${port}`
    try {
      await until(async () => {
        if (started.exitCode != null) throw new Error(`prometheus exited with ${started.exitCode}`)
        try { return (await fetch(`${url}/-/ready`)).status === 200 } catch { return false }
      }, 30_000, 'prometheus to be ready')
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${prometheusLog}`)
    }
    promUrl = url
  })

  afterAll(async () => {
    const p = prometheus
    if (p != null && p.exitCode == null && p.signalCode == null) {
      const exited = once(p, 'exit')
      p.kill('SIGTERM')
      const timer = setTimeout(() => { p.kill('SIGKILL') }, 10_000)
      await exited
      clearTimeout(timer)
    }
    await api?.close()
    await t?.cleanup()
    await tmp?.cleanup()
  })

  it('Prometheus scrapes the node: chainstore_head_height is the node\'s head, and follows it', async () => {
    ready()
    const head = (await t!.store.status()).head?.height
    expect(head).toBe(4)
    await until(async () => await value('chainstore_head_height{job="chainstore"}') === head, 30_000, `Prometheus to report chainstore_head_height ${head}:\n${prometheusLog}`)
    expect(await value('up{job="chainstore"}')).toBe(1)
    expect(await value('chainstore_blocks_stored_total')).toBe(5)

    await t!.store.storeBlocks(t!.chain.take(5, t!.store.config.limits))
    await until(async () => await value('chainstore_head_height{job="chainstore"}') === 9, 30_000, 'Prometheus to report the new head 9')
    await until(async () => await value('chainstore_blocks_stored_total') === 10, 30_000, 'Prometheus to report 10 blocks stored')
  })

  it('Prometheus loads every alert and evaluates each without error; none fires on a healthy node', async () => {
    ready()
    let rules: Array<{ name: string, query: string, health: string, state: string, lastError?: string, lastEvaluation: string }> = []
    await until(async () => {
      const body = await (await fetch(`${promUrl}/api/v1/rules?type=alert`)).json() as any
      rules = body.data.groups.flatMap((g: any) => g.rules)
      return rules.length === ALERTS.length && rules.every(r => r.health !== 'unknown' && !r.lastEvaluation.startsWith('0001'))
    }, 30_000, 'every rule to be evaluated')
    expect(rules.map(r => r.name).sort()).toEqual([...ALERTS].sort())
    for (const r of rules) {
      expect(r.health, `${r.name}: ${r.lastError ?? ''}`).toBe('ok')
      expect(r.state, r.name).toBe('inactive')
    }
  })

  it('every metric the rules and the Grafana dashboard read is one the node exports', async () => {
    ready()
    const text = await (await fetch(`${api!.url}/metrics`)).text()
    const exported = exportedNames(text)
    // the rules as Prometheus parsed them from ops/prometheus/chainstore.rules.yml
    const body = await (await fetch(`${promUrl}/api/v1/rules?type=alert`)).json() as any
    const ruleExprs: string[] = body.data.groups.flatMap((g: any) => g.rules.map((r: any) => r.query))
    expect(ruleExprs.length).toBe(ALERTS.length)
    const exprs = [...ruleExprs, ...dashboardExprs(await dashboard())]
    const missing: string[] = []
    let checked = 0
    for (const expr of exprs) {
      const names = metricNames(expr)
      expect(names.length, `no metric in ${expr}`).toBeGreaterThan(0)
      for (const name of names) {
        checked++
        if (!exported.has(name)) missing.push(`${name} (in ${expr})`)
      }
    }
    expect(missing, 'metrics not in the node\'s /metrics').toEqual([])
    expect(checked).toBeGreaterThan(40)
  })

  it('every Grafana expression runs in Prometheus, and the panels that read the node get data', async () => {
    ready()
    const d = await dashboard()
    for (const p of d.panels) {
      for (const target of p.targets ?? []) {
        const expr = target.expr.replaceAll('$__rate_interval', '1m').replaceAll('$instance', '.+')
        const body = await query(expr)
        expect(body.status, `${p.title}: ${expr}: ${JSON.stringify(body.error)}`).toBe('success')
      }
    }
    await until(async () => await value('max(chainstore_head_height{instance=~".+"})') === 9, 30_000, 'the Head panel\'s query to read 9')
    await until(async () => (await value('sum by (state) (chainstore_pins{state="pinned",instance=~".+"})') ?? 0) >= 5, 30_000, 'the Pins panel\'s query to read the pinned blocks')
  })
})
