/**
 * Fuzzing the HTTP API routes (the read API, the dashboard's JSON, metrics
 * and the trustless gateway on one server): `FUZZ_HTTP_REQUESTS` (3,000)
 * requests built from the routes' grammar with real and mangled CIDs,
 * heights, transaction ids and addresses, random methods, query strings,
 * headers and bodies, some sent as raw bytes the HTTP parser must refuse.
 * Every request must get an answer below 500 within 5 s (a closed socket is
 * an answer only for bytes that are not HTTP), save the documented ones: 503
 * NetworkDisabledError from the network routes of a node without
 * replication, 501 from the gateway for what it does not implement (paths
 * inside a DAG); the server must still serve /status afterwards. `FUZZ_HTTP_SEED` reproduces a run.
 */
import { connect } from 'node:net'
import { afterAll, describe, expect, it } from 'vitest'
import { startReadApi } from '../../src/api/server.ts'
import { rng } from '../../src/synthetic/chain.ts'
import { openTestStore, quietLogger } from '../helpers/store.ts'

const REQUESTS = Number(process.env.FUZZ_HTTP_REQUESTS ?? 3000)
const SEED = Number(process.env.FUZZ_HTTP_SEED ?? Math.floor(Math.random() * 2 ** 31))
const IN_FLIGHT = 8
const cleanups: Array<() => Promise<void>> = []
afterAll(async () => { for (const c of cleanups.reverse()) await c() })

interface Answer { status: number | null, ms: number, closedEarly: boolean }

/** Sends raw bytes to host:port and reads the status line of the answer (null: the socket closed without one). */
async function send (port: number, bytes: Buffer, halfClose: boolean): Promise<Answer> {
  const started = performance.now()
  return await new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let head = ''
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no answer in 5 s to ${JSON.stringify(bytes.toString('latin1').slice(0, 200))}`)) }, 5_000)
    const done = (status: number | null, closedEarly: boolean): void => { clearTimeout(timer); socket.destroy(); resolve({ status, ms: performance.now() - started, closedEarly }) }
    socket.on('data', (c: Buffer) => {
      head += c.toString('latin1')
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(head)
      if (m != null) done(Number(m[1]), false)
      else if (head.length > 64) done(null, true)
    })
    socket.on('error', () => { done(null, true) })
    socket.on('close', () => { done(null, true) })
    // half-close only where the body is shorter than its Content-Length (the server would wait for the rest);
    // a client that half-closes after a whole request may see the server close before it answers
    if (halfClose) socket.end(bytes)
    else socket.write(bytes)
  })
}

describe('fuzzing the HTTP routes', () => {
  it(`${REQUESTS} generated requests: every one answered within 5 s and none with an undocumented 5xx, the server still up`, async () => {
    const t = await openTestStore()
    cleanups.push(t.cleanup)
    const stored = await t.store.storeBlocks(t.chain.take(8, t.store.config.limits))
    const block = await t.store.getBlock(3)
    const api = await startReadApi(t.store, { host: '127.0.0.1', port: 0, logger: quietLogger })
    cleanups.push(async () => { await api.close() })
    const port = Number(new URL(api.url).port)
    const random = rng(SEED)
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]
    const cids = [...stored.map(s => s.cid.toString()), ...block.header.txPages.map(String), ...block.txIds.map(String),
      'bafkqaaa', 'bafyaaap7', 'QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH', 'bafkreiaaaa', 'zzz']
    const addresses = [block.transactions[0].from, '0x' + '00'.repeat(20), '0x' + 'f'.repeat(39), '0xZZ']
    const junk = (): string => pick([
      '', '-1', '0', '1e9', '99999999999999999999', 'NaN', '1.5', '%', '%zz', '%00', '%ff%fe', '..', '../../etc/passwd', '//',
      'é', '\u{1F600}', 'a'.repeat(pick([10, 300, 5000])), 'null', '[]', '{}', 'true', ' ', '%20', '0x', '?', '#'
    ])
    const mangle = (s: string): string => {
      switch (Math.floor(random() * 6)) {
        case 0: return s
        case 1: return s.slice(0, Math.floor(random() * s.length))
        case 2: return s + junk()
        case 3: { const i = Math.floor(random() * Math.max(1, s.length)); return s.slice(0, i) + String.fromCharCode(32 + Math.floor(random() * 95)) + s.slice(i + 1) }
        case 4: return encodeURIComponent(s)
        default: return junk()
      }
    }
    const ref = (): string => pick([() => String(Math.floor(random() * 12)), () => mangle(pick(cids)), junk])()
    const query = (keys: string[]): string => {
      if (random() < 0.4) return ''
      const parts = Array.from({ length: 1 + Math.floor(random() * 3) }, () => `${pick([...keys, 'x', '', 'limit', junk()])}=${pick([junk(), String(Math.floor(random() * 2000) - 100), 'car', 'raw', 'entity', 'block', 'all', 'pinned', 'queued', mangle(pick(cids))])}`)
      return '?' + parts.join(pick(['&', '&&', ';']))
    }
    const path = (): string => pick([
      () => '/status' + query([]),
      () => `/blocks/${ref()}` + query([]),
      () => `/tx/${ref()}` + query([]),
      () => `/tx/${ref()}/receipt`,
      () => `/address/${mangle(pick(addresses))}/history` + query(['limit', 'cursor', 'reverse']),
      () => '/peers', () => '/validators', () => '/reputation',
      () => '/pins' + query(['state', 'limit']),
      () => '/api/dashboard' + query([]), () => '/metrics',
      () => `/ipfs/${ref()}` + query(['format', 'dag-scope', 'filename', 'download']),
      () => `/ipfs/${ref()}/${junk()}` + query(['format']),
      () => '/' + junk(), () => pick(['/', '*', '', '//blocks//1', '/blocks/', '/tx/', '/ipfs/', '/ipfs'])
    ])()
    const request = (): { bytes: Buffer, http: boolean, short: boolean } => {
      const method = pick(['GET', 'GET', 'GET', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH'])
      const headers = ['Host: 127.0.0.1', 'Connection: close']
      if (random() < 0.5) headers.push(`Accept: ${pick(['application/vnd.ipld.car', 'application/vnd.ipld.raw', 'application/json', '*/*', 'text/html', junk(), 'application/vnd.ipld.car; version=2; order=dfs; dups=n'])}`)
      if (random() < 0.2) headers.push(`Accept-Encoding: ${pick(['gzip', 'br', 'deflate', 'identity', junk()])}`)
      if (random() < 0.2) headers.push(`Range: ${pick(['bytes=0-10', 'bytes=-5', 'bytes=99999999-', 'bytes=5-1', junk()])}`)
      let body = ''
      let short = false
      if (method !== 'GET' && method !== 'HEAD' && random() < 0.6) {
        body = pick(['{}', '[]', junk(), 'x'.repeat(pick([1, 1000, 2_000_000]))])
        const length = random() < 0.9 ? Buffer.byteLength(body) : pick([0, 5, 999999])
        short = length > Buffer.byteLength(body)
        headers.push(`Content-Type: ${pick(['application/json', 'text/plain', 'application/octet-stream'])}`, `Content-Length: ${length}`)
      }
      if (random() < 0.05) {
        // bytes that are not HTTP: the parser must refuse them, the server must stay up
        return { bytes: Buffer.concat([Buffer.from(pick(['G\u0000T / HTTP/1.1\r\n\r\n', `GET ${'/'.repeat(20000)} HTTP/1.1\r\nHost: x\r\n\r\n`, 'GET / HTTP/9.9\r\n\r\n', 'HELLO\r\n\r\n', `GET /status HTTP/1.1\r\n${'X: y\r\n'.repeat(2000)}\r\n`]), 'latin1')]), http: false, short: true }
      }
      const p = path()
      return { bytes: Buffer.from(`${method} ${p.startsWith('/') || p === '*' ? p : '/' + p} HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\n${body}`, 'utf8'), http: true, short }
    }

    const statuses = new Map<string, number>()
    const failures: string[] = []
    let slowest = 0
    let done = 0
    const worker = async (): Promise<void> => {
      while (done < REQUESTS) {
        done++
        const r = request()
        const a = await send(port, r.bytes, r.short)
        slowest = Math.max(slowest, a.ms)
        const key = a.status == null ? 'closed' : String(a.status)
        statuses.set(key, (statuses.get(key) ?? 0) + 1)
        // documented answers, not failures: the network routes' 503 NetworkDisabledError on a node without
        // replication, and the gateway's 501 for what it does not implement (paths inside a DAG, codecs it cannot walk)
        const line = r.bytes.toString('latin1')
        const documented = (a.status === 503 && /^(GET|HEAD) \/(peers|validators|reputation)[ ?]/.test(line)) ||
          (a.status === 501 && /^\w+ \/ipfs\//.test(line))
        if (a.status != null && a.status >= 500 && !documented) failures.push(`${a.status} for ${JSON.stringify(r.bytes.toString('utf8').slice(0, 160))}`)
        if (a.status == null && r.http && !r.short && r.bytes.length < 1_000_000) failures.push(`no status line for ${JSON.stringify(r.bytes.toString('utf8').slice(0, 160))}`)
      }
    }
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker))
    const after = await fetch(`${api.url}/status`)
    console.log(`[faults:http] requests=${REQUESTS} seed=${SEED} statuses=${JSON.stringify(Object.fromEntries([...statuses].sort()))} failures=${failures.length} slowestMs=${Math.round(slowest)} statusAfter=${after.status}`)
    expect(failures.slice(0, 20)).toEqual([])
    expect(after.status).toBe(200)
  }, 600_000)
})
