import type { Connection } from '@libp2p/interface'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p, type Libp2p } from 'libp2p'
import { afterEach, describe, expect, it } from 'vitest'
import { ConnectionHeadroom, pick } from '../src/replication/headroom.ts'
import { createLogger } from '../src/logger.ts'
import { eventually } from './helpers/wait.ts'

const nodes: Libp2p[] = []
afterEach(async () => { await Promise.all(nodes.splice(0).map(async n => await n.stop())) })

async function node (maxConnections = 100): Promise<Libp2p> {
  const n = await createLibp2p({ addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()], connectionManager: { maxConnections } })
  nodes.push(n)
  return n
}

const log = createLogger({ level: 'silent' })

describe('a node at its connection limit keeps a slot free for newcomers', () => {
  it('a full node refuses a newcomer; one trim later the newcomer gets in, and the limit is never passed', async () => {
    const full = await node(3)
    const others = [await node(), await node(), await node()]
    for (const o of others) await o.dial(full.getMultiaddrs()[0])
    expect(await eventually(async () => full.getConnections().length === 3, 5_000, 50)).toBe(true)
    const newcomer = await node()
    // libp2p's hard limit: the inbound connection is refused while the node is full
    await expect(newcomer.dial(full.getMultiaddrs()[0], { signal: AbortSignal.timeout(3_000) })).rejects.toThrow()
    expect(full.getConnections().length).toBe(3)

    const headroom = new ConnectionHeadroom({ libp2p: full, maxConnections: 3, minConnections: 1, graceMs: 0, fullMs: 0, score: () => 1, log })
    const left = await headroom.trim()
    // equal reputation, all inbound: the most recently opened goes
    expect(left).toBe(others[2].peerId.toString())
    expect(await eventually(async () => full.getConnections().length === 2, 5_000, 50)).toBe(true)
    await newcomer.dial(full.getMultiaddrs()[0], { signal: AbortSignal.timeout(3_000) })
    const expected = [others[0], others[1], newcomer].map(n => n.peerId.toString()).sort().join()
    expect(await eventually(async () => full.getConnections().map(c => c.remotePeer.toString()).sort().join() === expected, 5_000, 50)).toBe(true)
    // at the limit again: one more goes; below it, nothing does
    expect(await headroom.trim()).not.toBeNull()
    expect(await eventually(async () => full.getConnections().length === 2, 5_000, 50)).toBe(true)
    expect(await headroom.trim()).toBeNull()
    expect(full.getConnections().length).toBe(2)
  })

  it('a node closes a connection only after it has stayed at its limit for fullMs, and then not again for fullMs', async () => {
    const full = await node(2)
    const others = [await node(), await node(), await node()]
    for (const o of others.slice(0, 2)) await o.dial(full.getMultiaddrs()[0])
    expect(await eventually(async () => full.getConnections().length === 2, 5_000, 50)).toBe(true)
    const headroom = new ConnectionHeadroom({ libp2p: full, maxConnections: 2, minConnections: 1, graceMs: 0, fullMs: 30_000, score: () => 1, log })
    const t0 = Date.now()
    expect(await headroom.trim(t0)).toBeNull()
    expect(await headroom.trim(t0 + 29_999)).toBeNull()
    expect(full.getConnections().length).toBe(2)
    expect(await headroom.trim(t0 + 30_000)).not.toBeNull()
    expect(await eventually(async () => full.getConnections().length === 1, 5_000, 50)).toBe(true)
    // full again at once: the clock starts over
    await others[2].dial(full.getMultiaddrs()[0])
    expect(await eventually(async () => full.getConnections().length === 2, 5_000, 50)).toBe(true)
    expect(await headroom.trim(t0 + 30_001)).toBeNull()
    expect(await headroom.trim(t0 + 60_001)).not.toBeNull()
  })

  it('connections in their grace period are kept, and nothing is trimmed when the slot would take the node below its floor', async () => {
    const full = await node(2)
    for (const o of [await node(), await node()]) await o.dial(full.getMultiaddrs()[0])
    expect(await eventually(async () => full.getConnections().length === 2, 5_000, 50)).toBe(true)
    expect(await new ConnectionHeadroom({ libp2p: full, maxConnections: 2, minConnections: 1, graceMs: 60_000, fullMs: 0, score: () => 1, log }).trim()).toBeNull()
    expect(await new ConnectionHeadroom({ libp2p: full, maxConnections: 2, minConnections: 2, graceMs: 0, fullMs: 0, score: () => 1, log }).trim()).toBeNull()
    expect(full.getConnections().length).toBe(2)
    expect(await new ConnectionHeadroom({ libp2p: full, maxConnections: 2, minConnections: 1, graceMs: 0, fullMs: 0, score: () => 1, log }).trim()).not.toBeNull()
  })

  it('the connection closed is a duplicate first, then the worst-reputed peer, inbound before outbound, newest first', () => {
    const conn = (peer: string, open: number, direction: 'inbound' | 'outbound'): Connection => ({ remotePeer: { toString: () => peer }, timeline: { open }, direction }) as any
    const score = (scores: Record<string, number>) => (peer: string) => scores[peer] ?? 1
    const a1 = conn('a', 100, 'outbound')
    const b = conn('b', 200, 'inbound')
    const c = conn('c', 300, 'inbound')
    const d = conn('d', 400, 'outbound')
    // equal reputation: the newest inbound, though an outbound one is newer
    expect(pick([a1, b, c, d], 1_000, score({}))).toBe(c)
    // inside the grace period (opened at or after the cut-off): kept
    expect(pick([a1, b, c, d], 300, score({}))).toBe(b)
    expect(pick([a1, b, c, d], 100, score({}))).toBeNull()
    // reputation before direction
    expect(pick([a1, b, c, d], 1_000, score({ d: 0.2, b: 0.5 }))).toBe(d)
    // a second connection to a peer before anything else
    const a2 = conn('a', 50, 'outbound')
    expect(pick([a1, b, c, d, a2], 1_000, score({ d: 0.2 }))).toBe(a1)
  })
})
