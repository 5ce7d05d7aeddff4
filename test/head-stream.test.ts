import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p, type Libp2p } from 'libp2p'
import { afterEach, describe, expect, it } from 'vitest'
import { HEAD_PROTOCOL, HEAD_STREAM_PROTOCOL, HeadStream, requestHead, serveHead, serveHeadStream, type PeerHead } from '../src/replication/head-protocol.ts'

const nodes: Libp2p[] = []
afterEach(async () => { await Promise.all(nodes.splice(0).map(async n => await n.stop())) })

async function node (): Promise<Libp2p> {
  const n = await createLibp2p({ addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] })
  nodes.push(n)
  return n
}

/** A head that moves one height per answer. */
function movingHead (): () => PeerHead {
  let height = -1
  return () => { height++; return { height, cid: null, finalized: -1, logs: { chain: [`h${height}`] } } }
}

describe('head polls over one long-lived stream', () => {
  it('many asks share one stream, each answered with the head at that moment', async () => {
    const [server, asker] = [await node(), await node()]
    let streams = 0
    const errors: unknown[] = []
    const head = movingHead()
    await server.handle(HEAD_STREAM_PROTOCOL, (stream: any) => { streams++; void serveHeadStream(stream, head, err => errors.push(err)) })
    const stream: any = await asker.dialProtocol(server.getMultiaddrs()[0], [HEAD_STREAM_PROTOCOL, HEAD_PROTOCOL])
    expect(stream.protocol).toBe(HEAD_STREAM_PROTOCOL)
    const s = new HeadStream(stream, server.peerId.toString())
    const heights: number[] = []
    for (let i = 0; i < 5; i++) {
      const h = await s.ask(AbortSignal.timeout(2_000))
      heights.push(h.height)
      expect(h.logs).toEqual({ chain: [`h${h.height}`] })
    }
    expect(heights).toEqual([0, 1, 2, 3, 4])
    expect(streams).toBe(1)
    s.abort('done')
    expect(errors).toEqual([])
  })

  it('a peer that speaks only the one-shot protocol is asked with it', async () => {
    const [server, asker] = [await node(), await node()]
    const head = movingHead()
    await server.handle(HEAD_PROTOCOL, (stream: any) => { void serveHead(stream, head, () => {}) })
    const stream: any = await asker.dialProtocol(server.getMultiaddrs()[0], [HEAD_STREAM_PROTOCOL, HEAD_PROTOCOL])
    expect(stream.protocol).toBe(HEAD_PROTOCOL)
    expect((await requestHead(stream, server.peerId.toString(), AbortSignal.timeout(2_000))).height).toBe(0)
  })

  it('the server ends a stream that sends anything but an ask, and one left idle', async () => {
    const [server, asker] = [await node(), await node()]
    const errors: unknown[] = []
    let ended = 0
    await server.handle(HEAD_STREAM_PROTOCOL, (stream: any) => { void serveHeadStream(stream, movingHead(), err => errors.push(err), 300).finally(() => { ended++ }) })
    const { lpStream } = await import('@libp2p/utils')
    const bad: any = await asker.dialProtocol(server.getMultiaddrs()[0], HEAD_STREAM_PROTOCOL)
    await lpStream(bad).write(Uint8Array.of(9))
    await expect(new HeadStream(bad, 'server').ask(AbortSignal.timeout(2_000))).rejects.toThrow()
    // a longer frame is refused by its length before it is read
    const long: any = await asker.dialProtocol(server.getMultiaddrs()[0], HEAD_STREAM_PROTOCOL)
    await lpStream(long).write(Uint8Array.of(1, 1))
    await expect(new HeadStream(long, 'server').ask(AbortSignal.timeout(2_000))).rejects.toThrow()
    expect(errors.map(e => (e as Error).name)).toEqual(['PeerMisbehavedError', 'InvalidDataLengthError'])

    const idle = new HeadStream(await asker.dialProtocol(server.getMultiaddrs()[0], HEAD_STREAM_PROTOCOL) as any, 'server')
    expect((await idle.ask(AbortSignal.timeout(2_000))).height).toBe(0)
    await new Promise(resolve => setTimeout(resolve, 600))
    // the server closed it after 300 ms without an ask: the next ask fails (the asker opens another stream)
    await expect(idle.ask(AbortSignal.timeout(2_000))).rejects.toThrow()
    expect(ended).toBe(3)
    expect(errors).toHaveLength(2)
  })
})
