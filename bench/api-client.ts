/**
 * Load for the `api` bench part, from its own process (so its timing is not
 * the node's event loop): requests `paths` of `base` one after another for
 * `ms`, then prints each path's latencies (ms) as one JSON line.
 */
const [base, ms, ...paths] = process.argv.slice(2)
const until = Date.now() + Number(ms)
const out: Record<string, number[]> = Object.fromEntries(paths.map(p => [p, []]))
let failures = 0
while (Date.now() < until) {
  for (const p of paths) {
    const t0 = performance.now()
    try {
      const res = await fetch(base + p)
      await res.arrayBuffer()
      if (!res.ok) failures++
    } catch { failures++ }
    out[p].push(performance.now() - t0)
  }
  await new Promise(resolve => setTimeout(resolve, 20))
}
process.stdout.write(JSON.stringify({ latencies: out, failures }) + '\n')
