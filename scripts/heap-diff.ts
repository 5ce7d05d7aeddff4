/**
 * Compares two V8 heap snapshots (e.g. of one soak peer early and late, see
 * `npm run soak -- --snapshots`): live objects grouped by constructor, and
 * arrays, strings and other internal nodes grouped by what holds them (their
 * first retainer), so a growing Set shows as its backing store under `Set`.
 * Prints the groups whose count or bytes grew most, with bytes per `--per`
 * (e.g. the number of blocks written between the two snapshots).
 *
 *   node scripts/heap-diff.ts early.heapsnapshot late.heapsnapshot [--per 3000] [--top 40]
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

const { values, positionals } = parseArgs({ allowPositionals: true, options: { per: { type: 'string', default: '1' }, top: { type: 'string', default: '40' } } })
const per = Number(values.per); const top = Number(values.top)

interface Group { count: number, bytes: number }

function groups (path: string): Map<string, Group> {
  const snap = JSON.parse(readFileSync(path, 'utf8'))
  const meta = snap.snapshot.meta
  const nf: string[] = meta.node_fields; const ef: string[] = meta.edge_fields
  const nodeTypes: string[] = meta.node_types[0]; const edgeTypes: string[] = meta.edge_types[0]
  const N = nf.length; const E = ef.length
  const { nodes, edges, strings } = snap as { nodes: number[], edges: number[], strings: string[] }
  const iType = nf.indexOf('type'); const iName = nf.indexOf('name'); const iSize = nf.indexOf('self_size'); const iEdges = nf.indexOf('edge_count')
  const iEType = ef.indexOf('type'); const iTo = ef.indexOf('to_node')
  const count = nodes.length / N
  const owner = new Int32Array(count).fill(-1)
  for (let n = 0, e = 0; n < count; n++) {
    const ec = nodes[n * N + iEdges]
    for (let k = 0; k < ec; k++, e += E) {
      const t = edgeTypes[edges[e + iEType]]
      if (t === 'weak' || t === 'shortcut') continue
      const to = edges[e + iTo] / N
      if (owner[to] === -1 && to !== n) owner[to] = n
    }
  }
  const label = (n: number): string => {
    const type = nodeTypes[nodes[n * N + iType]]
    const name = strings[nodes[n * N + iName]]
    return type === 'object' || type === 'closure' ? `${type}:${name.slice(0, 60)}` : type
  }
  const out = new Map<string, Group>()
  for (let n = 0; n < count; n++) {
    const type = nodeTypes[nodes[n * N + iType]]
    let key = label(n)
    if (type !== 'object' && type !== 'closure') {
      const name = type === 'string' || type === 'concatenated string' || type === 'sliced string' || type === 'number' ? '' : ` ${strings[nodes[n * N + iName]].slice(0, 40)}`
      let o = owner[n]
      // look through internal arrays to the object that owns them
      for (let hops = 0; o !== -1 && hops < 3 && !['object', 'closure'].includes(nodeTypes[nodes[o * N + iType]]); hops++) o = owner[o]
      key = `${type}${name} <- ${o === -1 ? '?' : label(o)}`
    }
    const g = out.get(key) ?? { count: 0, bytes: 0 }
    g.count++; g.bytes += nodes[n * N + iSize]
    out.set(key, g)
  }
  return out
}

const [a, b] = positionals.map(groups)
const rows = [...new Set([...a.keys(), ...b.keys()])].map(k => {
  const x = a.get(k) ?? { count: 0, bytes: 0 }; const y = b.get(k) ?? { count: 0, bytes: 0 }
  return { k, dCount: y.count - x.count, dBytes: y.bytes - x.bytes, count: y.count, bytes: y.bytes }
}).sort((p, q) => q.dBytes - p.dBytes)
const total = (g: Map<string, Group>): number => [...g.values()].reduce((s, x) => s + x.bytes, 0)
console.log(`total ${(total(a) / 1048576).toFixed(1)} MiB -> ${(total(b) / 1048576).toFixed(1)} MiB (+${((total(b) - total(a)) / per).toFixed(0)} B per ${per > 1 ? 'unit' : 'snapshot'})`)
console.log('   +count      +bytes   B/unit      count  group')
for (const r of rows.slice(0, top)) {
  console.log(`${String(r.dCount).padStart(9)} ${String(r.dBytes).padStart(11)} ${(r.dBytes / per).toFixed(1).padStart(8)} ${String(r.count).padStart(10)}  ${r.k}`)
}
