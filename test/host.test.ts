import { join } from 'node:path'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import { afterEach, describe, expect, it } from 'vitest'
import { createChainStore } from '../src/index.ts'
import { quietLogger, tempDir } from './helpers/store.ts'

let cleanup: Array<() => Promise<void>> = []
afterEach(async () => { for (const c of cleanup.splice(0).reverse()) await c() })

describe('embedding on a host libp2p node', () => {
  it('refuses a host without a pubsub service with HostLibp2pError, leaves the host running and the data dir free', async () => {
    const t = await tempDir('chainstore-host-')
    const libp2p = await createLibp2p({
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: { identify: identify() }
    })
    cleanup.push(async () => { await libp2p.stop(); await t.cleanup() })
    const dataDir = join(t.dir, 'data')
    const err = await createChainStore({ dataDir, network: { enabled: true, seed: 'host-no-pubsub' } }, { libp2p, logger: quietLogger }).then(() => null, (e: Error) => e)
    expect(err?.name).toBe('HostLibp2pError')
    expect(err?.message).toMatch(/'pubsub'/)
    expect(libp2p.status).toBe('started')
    // nothing was left holding the data dir: a store without the network opens it
    const store = await createChainStore({ dataDir }, { logger: quietLogger })
    await store.stop()
  })
})
