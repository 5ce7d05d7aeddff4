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

// chart frame (viewBox units): plot area inside the margins, axes outside it
const CHART = { w: 800, h: 240, left: 52, right: 60, top: 24, bottom: 24 }

function el (name, attrs, text) {
  const e = document.createElementNS(SVG, name)
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v))
  if (text != null) e.textContent = text
  return e
}

/** A scale's top: the next 1, 2 or 5 × 10^n at or above `v`, so axis labels are round. */
function niceMax (v) {
  if (!(v > 0)) return 1
  const p = 10 ** Math.floor(Math.log10(v))
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p
  return 10 * p
}

function line (svg, points, t0, span, max, color, dashed) {
  if (points.length < 2) return
  const { w, h, left, right, top, bottom } = CHART
  const pw = w - left - right
  const ph = h - top - bottom
  const d = points.map(([t, v], i) => `${i === 0 ? 'M' : 'L'}${(left + (t - t0) / span * pw).toFixed(1)},${(top + ph - Math.min(1, v / max) * ph).toFixed(1)}`).join(' ')
  svg.appendChild(el('path', { d, fill: 'none', stroke: color, 'stroke-width': 2, ...(dashed ? { 'stroke-dasharray': '6 4' } : {}) }))
}

/**
 * Blocks per second written here (local writes: stored minus replicated)
 * and replicated from peers on the left axis, transactions per second on
 * their own scale on the right; time along the bottom.
 */
function drawRates (rates) {
  const svg = $('rate-chart')
  svg.replaceChildren()
  const { w, h, left, right, top, bottom } = CHART
  const ph = h - top - bottom
  const local = rates.map(r => [r.at, Math.max(0, r.blocks - r.replicated)])
  const replicated = rates.map(r => [r.at, r.replicated])
  const txs = rates.map(r => [r.at, r.transactions])
  const bMax = niceMax(Math.max(0, ...local.map(p => p[1]), ...replicated.map(p => p[1])))
  const tMax = niceMax(Math.max(0, ...txs.map(p => p[1])))
  for (let i = 0; i <= 4; i++) {
    const y = top + ph - i / 4 * ph
    svg.appendChild(el('line', { x1: left, x2: w - right, y1: y, y2: y, stroke: i === 0 ? '#3b4350' : '#262c36' }))
    svg.appendChild(el('text', { x: left - 6, y: y + 4, 'text-anchor': 'end' }, fmt(bMax * i / 4, bMax < 4 ? 1 : 0)))
    svg.appendChild(el('text', { x: w - right + 6, y: y + 4, 'text-anchor': 'start', style: 'fill: var(--c3)' }, fmt(tMax * i / 4)))
  }
  svg.appendChild(el('text', { x: left - 6, y: 11, 'text-anchor': 'end' }, 'blocks/s'))
  svg.appendChild(el('text', { x: w - right + 6, y: 11, 'text-anchor': 'start', style: 'fill: var(--c3)' }, 'tx/s'))
  if (rates.length < 2) { $('chart-span').textContent = 'collecting…'; return }
  const t0 = rates[0].at
  const t1 = rates[rates.length - 1].at
  const span = Math.max(1, t1 - t0)
  for (let i = 0; i <= 4; i++) {
    const x = left + i / 4 * (w - left - right)
    const ago = Math.round((span - i / 4 * span) / 1000)
    svg.appendChild(el('text', { x, y: h - 6, 'text-anchor': i === 0 ? 'start' : i === 4 ? 'end' : 'middle' }, ago === 0 ? 'now' : `−${ago >= 120 ? `${Math.round(ago / 60)} min` : `${ago} s`}`))
  }
  line(svg, txs, t0, span, tMax, 'var(--c3)', true)
  line(svg, replicated, t0, span, bMax, 'var(--c2)', false)
  line(svg, local, t0, span, bMax, 'var(--c1)', false)
  $('chart-span').textContent = `last ${Math.round(span / 1000)} s, one point per second`
  $('chart-max').textContent = `peak ${fmt(Math.max(...rates.map(r => r.blocks)), 1)} blocks/s, ${fmt(Math.max(...rates.map(r => r.transactions)))} tx/s`
}

function uptime (s) {
  const d = Math.floor(s / 86400)
  const hh = Math.floor(s % 86400 / 3600)
  const mm = Math.floor(s % 3600 / 60)
  return d > 0 ? `${d} d ${hh} h` : hh > 0 ? `${hh} h ${mm} min` : `${mm} min ${s % 60} s`
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
  // blocks stored counts replicated imports too: the tile is that total, split below
  $('ingest').textContent = fmt(avg('blocks'), 1)
  $('ingest-tx').textContent = `${fmt(Math.max(0, avg('blocks') - avg('replicated')), 1)} written here · ${fmt(avg('replicated'), 1)} replicated · ${fmt(avg('transactions'))} tx/s`
  $('lag').textContent = d.network ? fmt(d.network.lag) : '–'
  $('lag').className = 'value ' + (!d.network ? '' : d.network.lag === 0 ? 'ok' : d.network.lag < 20 ? 'lagging' : 'far')
  $('index-tip').textContent = d.network ? (d.network.indexTip ? `index tip ${fmt(d.network.indexTip.height)}` : 'index empty') : 'replication off'
  $('peers-count').textContent = d.network ? fmt(d.network.connectedPeers) : '–'
  $('queued').textContent = d.network ? `${fmt(d.network.queued)} awaiting replicas` : ''
  $('peer-id').textContent = d.network ? short(d.network.peerId, 8) : ''
  $('disk').textContent = bytes(d.disk.bytes)
  $('blockstore').textContent = `blockstore ${bytes(d.disk.blockstoreBytes)}`
  drawRates(d.rates)
  const n = d.node
  $('node').innerHTML = [
    ['version', `${n.version} (${String(n.commit).slice(0, 10)})`],
    ['uptime', uptime(n.uptimeSeconds)],
    ['data dir', n.dataDir],
    ['durability', n.durability],
    ['network', n.network],
    ...(n.network === 'on' ? [['listen', n.listen.join(', ')], ['announce', n.announce.length > 0 ? n.announce.join(', ') : 'listen addresses'], ['dial me as', n.addresses.join(', ')]] : []),
    ['API', n.api]
  ].map(([k, v]) => `<div class="row"><span class="muted">${k}</span><span>${esc(v)}</span></div>`).join('')

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

  $('latency-window').textContent = `last ${fmt(d.latencyWindowMs / 60000, d.latencyWindowMs % 60000 === 0 ? 0 : 1)} min, ≤ 1,000 calls`
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
