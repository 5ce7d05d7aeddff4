/**
 * Compares two V8 heap snapshots (e.g. of one soak peer early and late, see
 * `npm run soak -- --snapshots`): live objects grouped by constructor, and
 * arrays, strings and other internal nodes grouped by what holds them (their
 * first retainer), so a growing Set shows as its backing store under `Set`.
 * Prints the groups whose count or bytes grew most, with bytes per `--per`
 * (e.g. the number of blocks written between the two snapshots).
 *
 * `--owners <text>`: for groups whose name contains the text, also the chains of
 * nearest holder with a class name in the late snapshot (`--chain`: the
 * whole chain of first retainers, edge names included).
 *
 *   node scripts/heap-diff.ts early.heapsnapshot late.heapsnapshot [--per 3000] [--top 40] [--owners Map]
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

const { values, positionals } = parseArgs({ allowPositionals: true, options: { per: { type: 'string', default: '1' }, top: { type: 'string', default: '40' }, owners: { type: 'string' }, chain: { type: 'boolean', default: false } } })
const per = Number(values.per); const top = Number(values.top)

interface Group { count: number, bytes: number }

let chains = new Map<string, Group>()

function groups (path: string, withOwners = false): Map<string, Group> {
  chains = new Map()
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
  const ownerEdge = new Int32Array(count).fill(-1)
  const iEName = ef.indexOf('name_or_index')
  for (let n = 0, e = 0; n < count; n++) {
    const ec = nodes[n * N + iEdges]
    for (let k = 0; k < ec; k++, e += E) {
      const t = edgeTypes[edges[e + iEType]]
      if (t === 'weak' || t === 'shortcut') continue
      const to = edges[e + iTo] / N
      if (owner[to] === -1 && to !== n) { owner[to] = n; ownerEdge[to] = e }
    }
  }
  const edgeName = (e: number): string => {
    const t = edgeTypes[edges[e + iEType]]
    return t === 'element' || t === 'hidden' ? `[${edges[e + iEName]}]` : String(strings[edges[e + iEName]]).slice(0, 30)
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
    if (withOwners && values.owners != null && key.includes(values.owners)) {
      // the nearest holder with a class name of its own (plain objects, arrays, strings, buffers and internals are looked through)
      let o = n; let via = ''
      for (let hops = 0; owner[o] !== -1 && hops < 24; hops++) {
        via = edgeName(ownerEdge[o]).replace(/^\[\d+\]$/, '[i]')
        o = owner[o]
        if (!/^(object:(Object|Array|system \/.*|Uint8Array|ArrayBuffer|Buffer|Map|Set)|array|hidden|concatenated string|sliced string|string|code|closure:.*)$/.test(label(o))) break
      }
      let k = `${key}: ${label(o)}.${via}`
      if (values.chain) {
        const parts: string[] = []
        for (let x = n, hops = 0; owner[x] !== -1 && hops < 14; x = owner[x], hops++) parts.push(`${label(owner[x])}.${edgeName(ownerEdge[x]).replace(/^\[\d+\]$/, '[i]')}`)
        k = `${key}: ${parts.join(' < ')}`
      }
      const c = chains.get(k) ?? { count: 0, bytes: 0 }
      c.count++; c.bytes += nodes[n * N + iSize]
      chains.set(k, c)
    }
  }
  return out
}

const a = groups(positionals[0], true); const chainsA = chains
const b = groups(positionals[1], true)
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
if (values.owners != null) {
  console.log(`\nwhat holds groups matching "${values.owners}": growth by holder`)
  console.log('   +count      +bytes   B/unit      count  group: holder')
  const held = [...new Set([...chainsA.keys(), ...chains.keys()])].map(k => {
    const x = chainsA.get(k) ?? { count: 0, bytes: 0 }; const y = chains.get(k) ?? { count: 0, bytes: 0 }
    return { k, dCount: y.count - x.count, dBytes: y.bytes - x.bytes, count: y.count }
  }).sort((p, q) => q.dBytes - p.dBytes)
  for (const r of held.slice(0, top)) console.log(`${String(r.dCount).padStart(9)} ${String(r.dBytes).padStart(11)} ${(r.dBytes / per).toFixed(1).padStart(8)} ${String(r.count).padStart(10)}  ${r.k}`)
}
