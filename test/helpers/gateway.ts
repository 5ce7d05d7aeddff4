import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/** How a test gateway answers: honestly, or one of the ways a gateway can lie or fail. */
export type Behaviour = 'honest' | 'wrong-bytes' | 'truncated' | 'huge' | 'drip' | 'not-found' | 'error' | 'stall'

const servers: Server[] = []

/** Closes every gateway {@link testGateway} started (call from afterEach). */
export async function closeTestGateways (): Promise<void> {
  await Promise.all(servers.splice(0).map(async s => await new Promise<void>(resolve => { s.closeAllConnections(); s.close(() => resolve()) })))
}

/**
 * A gateway on 127.0.0.1 that serves `blocks` (by CID string) as raw blocks,
 * honestly or misbehaving as told; `behaviour` can be changed while it runs.
 */
export async function testGateway (behaviour: Behaviour, blocks: Map<string, Uint8Array>): Promise<{ url: string, hits: () => number, set: (b: Behaviour) => void }> {
  let hits = 0
  let mode = behaviour
  const server = createServer((req, res) => {
    hits++
    const cid = /^\/ipfs\/([^/?]+)/.exec(req.url ?? '')?.[1] ?? ''
    const bytes = blocks.get(cid)
    if (mode === 'stall') return // never answers; the client's timeout ends it
    if (mode === 'not-found' || bytes == null) { res.writeHead(404).end(); return }
    if (mode === 'error') { res.writeHead(500).end('boom'); return }
    res.setHeader('content-type', 'application/vnd.ipld.raw')
    if (mode === 'honest') { res.end(bytes); return }
    if (mode === 'wrong-bytes') { const b = Uint8Array.from(bytes); b[0] ^= 1; res.end(b); return }
    if (mode === 'truncated') { res.setHeader('content-length', bytes.length); res.write(bytes.subarray(0, bytes.length >> 1)); res.destroy(); return }
    if (mode === 'huge') {
      // 100 MB of zeros, streamed; the client must stop reading at its limit
      const chunk = new Uint8Array(1 << 20)
      let sent = 0
      const pump = (): void => { while (sent < 100 && res.write(chunk)) sent++; if (sent >= 100) res.end(); else res.once('drain', pump) }
      res.on('close', () => { sent = 100 })
      pump()
      return
    }
    // slow drip: one byte every 300 ms
    let i = 0
    const timer = setInterval(() => { if (i >= bytes.length || res.destroyed) { clearInterval(timer); res.end(); return } res.write(bytes.subarray(i, i + 1)); i++ }, 300)
    res.on('close', () => clearInterval(timer))
  })
  servers.push(server)
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits: () => hits, set: b => { mode = b } }
}
