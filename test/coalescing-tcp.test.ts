import { createHash, randomBytes } from 'node:crypto'
import { createServer, Socket, type AddressInfo } from 'node:net'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { lpStream } from '@libp2p/utils'
import { yamux } from '@libp2p/yamux'
import { createLibp2p, type Libp2p } from 'libp2p'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { coalesceWrites, coalescingTcp } from '../src/replication/coalescing-tcp.ts'
import { until } from './helpers/wait.ts'

const nodes: Libp2p[] = []
afterEach(async () => {
  vi.restoreAllMocks()
  await Promise.all(nodes.splice(0).map(async n => await n.stop()))
})

/** A connected socket pair on 127.0.0.1; the server side collects what it receives. */
async function socketPair (): Promise<{ client: Socket, received: () => Buffer, close: () => Promise<void> }> {
  const chunks: Buffer[] = []
  let peer: Socket | undefined
  const server = createServer(s => { peer = s; s.on('data', (d: Buffer) => chunks.push(d)) })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const client = new Socket()
  await new Promise<void>(resolve => client.connect((server.address() as AddressInfo).port, '127.0.0.1', resolve))
  return {
    client,
    received: () => Buffer.concat(chunks),
    close: async () => {
      client.destroy()
      peer?.destroy()
      await new Promise(resolve => server.close(resolve))
    }
  }
}

describe('TCP writes coalesced per event-loop turn', () => {
  it('the writes of one turn leave in one writev, in order; a later turn is flushed on its own', async () => {
    const { client, received, close } = await socketPair()
    try {
      coalesceWrites({ socket: client } as any)
      const writev = vi.spyOn(client as any, '_writev')
      const write = vi.spyOn(client as any, '_write')
      // a noise message as @libp2p/tcp writes it: the 2-byte length, then the ciphertext; then a second one
      expect(client.write(Uint8Array.of(0, 3))).toBe(true)
      client.write(Uint8Array.of(1, 2, 3))
      client.write(Uint8Array.of(0, 1))
      client.write(Uint8Array.of(4))
      expect(writev).not.toHaveBeenCalled()
      await new Promise(resolve => process.nextTick(resolve))
      expect(writev).toHaveBeenCalledTimes(1)
      expect((writev.mock.calls[0][0] as unknown[]).length).toBe(4)
      await new Promise(resolve => setImmediate(resolve))
      client.write(Uint8Array.of(9, 9))
      await until(async () => received().length === 10, 2_000, 'the 10 bytes at the server')
      expect([...received()]).toEqual([0, 3, 1, 2, 3, 0, 1, 4, 9, 9])
      // a single write in its turn has nothing to join: it goes out as it is
      expect(write).toHaveBeenCalledTimes(1)
    } finally {
      await close()
    }
  })

  it('a connection without a socket where it is looked for is left as it is', () => {
    const maConn = { sendData: () => {} }
    expect(coalesceWrites(maConn as any)).toBe(maConn)
  })

  it('libp2p over it (noise, yamux) carries a stream intact with far fewer socket flushes', async () => {
    const frames = Array.from({ length: 200 }, (_, i) => randomBytes(200 + (i * 97) % 3000))
    const expected = createHash('sha256').update(Buffer.concat(frames)).digest('hex')
    const flushes: Record<string, number> = {}
    for (const [name, transport] of [['plain', tcp()], ['coalescing', coalescingTcp()]] as const) {
      const make = async (): Promise<Libp2p> => {
        const n = await createLibp2p({ addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] }, transports: [transport], connectionEncrypters: [noise()], streamMuxers: [yamux()] })
        nodes.push(n)
        return n
      }
      const [server, client] = [await make(), await make()]
      await server.handle('/chainstore-test/sum/1', async (stream: any) => {
        const lp = lpStream(stream)
        const sum = createHash('sha256')
        for (let i = 0; i < frames.length; i++) sum.update((await lp.read()).subarray())
        await lp.write(sum.digest())
      })
      const stream: any = await client.dialProtocol(server.getMultiaddrs()[0], '/chainstore-test/sum/1')
      const write = vi.spyOn(Socket.prototype as any, '_write')
      const writev = vi.spyOn(Socket.prototype as any, '_writev')
      const lp = lpStream(stream)
      for (let i = 0; i < frames.length; i += 20) await lp.writeV(frames.slice(i, i + 20))
      const sum = (await lp.read()).subarray()
      flushes[name] = write.mock.calls.length + writev.mock.calls.length
      vi.restoreAllMocks()
      expect(Buffer.from(sum).toString('hex')).toBe(expected)
      await stream.close()
    }
    // every noise message is a 2-byte length and a ciphertext, written separately by @libp2p/tcp
    expect(flushes.coalescing).toBeLessThan(flushes.plain / 2)
  })
})
