// The node dashboard: polls /api/dashboard every second and draws it. Plain
// browser JavaScript, no build step and no third-party code.
'use strict'

const $ = (id) => document.getElementById(id)
const fmt = (n, digits = 0) => n == null || Number.isNaN(n) ? '–' : Number(n).toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
const bytes = (n) => {
  if (n == null) return '–'
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++ }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`
}
const short = (s, n = 10) => s == null ? '' : s.length > 2 * n ? `${s.slice(0, n)}…${s.slice(-6)}` : s
const esc = (s) => String(s).replace(/[&<>"]/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c])
const SVG = 'http://www.w3.org/2000/svg'

function line (svg, points, max, color, width, height) {
  if (points.length < 2) return
  const t0 = points[0][0]
  const span = Math.max(1, points[points.length - 1][0] - t0)
  const d = points.map(([t, v], i) => `${i === 0 ? 'M' : 'L'}${((t - t0) / span * width).toFixed(1)},${(height - 6 - (v / max) * (height - 16)).toFixed(1)}`).join(' ')
  const path = document.createElementNS(SVG, 'path')
  path.setAttribute('d', d)
  path.setAttribute('fill', 'none')
  path.setAttribute('stroke', color)
  path.setAttribute('stroke-width', '2')
  path.setAttribute('vector-effect', 'non-scaling-stroke')
  svg.appendChild(path)
}

function drawRates (rates) {
  const svg = $('rate-chart')
  svg.replaceChildren()
  const w = 800
  const h = 200
  for (let i = 1; i < 4; i++) {
    const g = document.createElementNS(SVG, 'line')
    g.setAttribute('x1', '0'); g.setAttribute('x2', String(w))
    g.setAttribute('y1', String(i * h / 4)); g.setAttribute('y2', String(i * h / 4))
    g.setAttribute('stroke', '#262c36'); g.setAttribute('vector-effect', 'non-scaling-stroke')
    svg.appendChild(g)
  }
  const stored = rates.map(r => [r.at, r.blocks])
  const replicated = rates.map(r => [r.at, r.replicated])
  const txs = rates.map(r => [r.at, r.transactions / 100])
  const max = Math.max(1, ...stored.map(p => p[1]), ...replicated.map(p => p[1]), ...txs.map(p => p[1])) * 1.1
  line(svg, txs, max, 'var(--c3)', w, h)
  line(svg, replicated, max, 'var(--c2)', w, h)
  line(svg, stored, max, 'var(--c1)', w, h)
  $('chart-max').textContent = `max ${fmt(max / 1.1, 1)}/s`
  $('chart-span').textContent = rates.length > 1 ? `last ${Math.round((rates[rates.length - 1].at - rates[0].at) / 1000)} s` : 'collecting…'
}

function sparkline (points) {
  if (points.length < 2) return '<span class="muted">collecting…</span>'
  const vals = points.map(p => p.mean)
  const lo = Math.min(...vals)
  const hi = Math.max(...vals)
  const span = hi - lo || 1
  const d = vals.map((v, i) => `${(i / (vals.length - 1) * 120).toFixed(1)},${(22 - (v - lo) / span * 20).toFixed(1)}`).join(' ')
  const up = vals[vals.length - 1] >= vals[0]
  return `<svg width="120" height="24" style="height:24px;width:120px"><polyline points="${d}" fill="none" stroke="${up ? 'var(--c2)' : 'var(--bad)'}" stroke-width="1.5"/></svg>`
}

function render (d) {
  $('head').textContent = d.head ? fmt(d.head.height) : 'empty'
  $('head-cid').textContent = d.head ? short(String(d.head.cid)) : ''
  $('finalized').textContent = d.finalized >= 0 ? fmt(d.finalized) : 'none'
  $('final-gap').textContent = d.head && d.finalized >= 0 ? `${fmt(d.head.height - d.finalized)} behind head` : ''
  const last = d.rates.slice(-5)
  const avg = (k) => last.length ? last.reduce((s, r) => s + r[k], 0) / last.length : 0
  $('ingest').textContent = `${fmt(avg('blocks') + avg('replicated'), 1)}/s`
  $('ingest-tx').textContent = `${fmt(avg('transactions'))} tx/s`
  $('lag').textContent = d.network ? fmt(d.network.lag) : '–'
  $('lag').className = 'value ' + (!d.network ? '' : d.network.lag === 0 ? 'ok' : d.network.lag < 20 ? 'lagging' : 'far')
  $('index-tip').textContent = d.network ? (d.network.indexTip ? `index tip ${fmt(d.network.indexTip.height)}` : 'index empty') : 'replication off'
  $('peers-count').textContent = d.network ? fmt(d.network.connectedPeers) : '–'
  $('queued').textContent = d.network ? `${fmt(d.network.queued)} awaiting replicas` : ''
  $('peer-id').textContent = d.network ? short(d.network.peerId, 8) : ''
  $('disk').textContent = bytes(d.disk.bytes)
  $('blockstore').textContent = `blockstore ${bytes(d.disk.blockstoreBytes)}`
  drawRates(d.rates)

  const peers = $('peers').querySelector('tbody')
  peers.innerHTML = d.peers.map(p => `<tr><td title="${esc(p.peerId)}">${esc(short(p.peerId, 8))}</td><td>${p.head ? fmt(p.head.height) : '–'}</td>` +
    `<td class="${p.lag == null ? '' : p.lag === 0 ? 'ok' : p.lag < 20 ? 'lagging' : 'far'}">${p.lag == null ? '–' : fmt(p.lag)}</td>` +
    `<td><div class="bar ${p.reputation > 0.6 ? 'good' : p.reputation > 0.3 ? 'warn' : 'bad'}"><span style="width:${Math.round(p.reputation * 100)}%"></span></div></td></tr>`).join('')
  $('no-peers').hidden = d.peers.length > 0

  const pinTotal = Math.max(1, Object.values(d.pins).reduce((a, b) => a + b, 0))
  $('pins').innerHTML = ['pinned', 'queued', 'pinning', 'failed'].map(s => `<div class="row"><span>${s}</span>` +
    `<div class="bar ${s === 'failed' ? 'bad' : s === 'pinned' ? 'good' : 'warn'}"><span style="width:${(d.pins[s] / pinTotal * 100).toFixed(1)}%"></span></div>` +
    `<span class="num">${fmt(d.pins[s])}</span></div>`).join('')

  const m = d.cache.memory
  const f = d.cache.fetched
  $('caches').innerHTML = [
    ['memory tier hit rate', m.hitRate == null ? '–' : `${fmt(m.hitRate * 100, 1)} %`],
    ['memory tier', `${bytes(m.bytes)} / ${bytes(m.maxBytes)}`],
    ['fetch cache', `${fmt(f.entries)} blocks, ${bytes(f.bytes)} / ${bytes(f.maxBytes)}`],
    ['fetch cache hits / evictions', `${fmt(f.hits)} / ${fmt(f.evicted)}`]
  ].map(([k, v]) => `<div class="row"><span class="muted">${k}</span><span>${v}</span></div>`).join('')

  $('latency').querySelector('tbody').innerHTML = Object.entries(d.latencyMs).sort((a, b) => b[1].count - a[1].count).slice(0, 8)
    .map(([op, l]) => `<tr><td>${esc(op)}</td><td>${fmt(l.p50, 2)} ms</td><td>${fmt(l.p99, 2)} ms</td></tr>`).join('')

  $('validators').querySelector('tbody').innerHTML = d.validators.map(v => `<tr><td>${esc(v.id)}</td><td>${esc(v.status)}</td><td>${esc(v.stake)}</td>` +
    `<td>${v.score ? fmt(v.score.mean, 2) : '–'}</td><td>${sparkline(v.trend)}</td></tr>`).join('')
  $('no-validators').hidden = d.validators.length > 0

  const alerts = $('alerts')
  alerts.hidden = d.alerts.length === 0
  alerts.innerHTML = d.alerts.map(a => `<div>⚠ ${esc(a.message)} <span class="muted">since ${new Date(a.since).toLocaleTimeString()}</span></div>`).join('')
}

async function tick () {
  try {
    const res = await fetch('/api/dashboard', { cache: 'no-store' })
    if (!res.ok) throw new Error(String(res.status))
    render(await res.json())
    $('conn').textContent = 'live'
    $('conn').className = 'pill live'
  } catch {
    $('conn').textContent = 'node unreachable'
    $('conn').className = 'pill down'
  }
}

tick()
setInterval(tick, 1000)
