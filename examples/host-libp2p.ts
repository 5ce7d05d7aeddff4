/**
 * Embedding chainstore in a node that already runs libp2p: the application
 * creates its own libp2p node with its own services (here a small
 * `/example/hello/1.0.0` protocol next to identify, gossipsub and ping) and
 * hands it to `createChainStore`. chainstore registers its protocols, its
 * OrbitDB topics and bitswap on that node and opens no second host, so the
 * peer id other peers see is the application's. A devnet peer in another
 * process follows the chain it writes. Stopping the store leaves the host
 * running with its own protocol; the application stops it.
 *
 * Run: node --import ./scripts/source-exports.mjs examples/host-libp2p.ts   (exits 0;
 * the test suite runs it, and the consumer test against the packed package)
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import { createChainStore, createLogger, identityIdFromSeed } from 'chainstore'
import { PeerProcess } from 'chainstore/devnet'
import { SyntheticChain } from 'chainstore/synthetic'

const HELLO = '/example/hello/1.0.0'
const dir = await mkdtemp(join(tmpdir(), 'chainstore-host-'))
const writers = [identityIdFromSeed('host-writer')]

// the application's own libp2p node, on loopback only
const libp2p = await createLibp2p({
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: {
    identify: identify(),
    ping: ping(),
    // chainstore's OrbitDB logs travel over the host's gossipsub
    pubsub: gossipsub({ allowPublishToZeroTopicPeers: true })
  }
})
await libp2p.handle(HELLO, async (stream: any) => { await stream.close() })
const protocolsBefore = libp2p.getProtocols()

const store = await createChainStore({
  dataDir: join(dir, 'host'),
  network: { enabled: true, seed: 'host-writer', writers }
}, { libp2p, logger: createLogger({ level: 'warn' }) })
const follower = await PeerProcess.start({
  dataDir: join(dir, 'follower'),
  logLevel: 'warn',
  network: { enabled: true, seed: 'host-follower', writers, peers: libp2p.getMultiaddrs().map(String) }
})

try {
  const chain = new SyntheticChain({ txsPerBlock: 20, addresses: 50 })
  for (let i = 0; i < 5; i++) await store.storeBlock(chain.next(store.config.limits))
  const reached = await follower.waitForHeight(4, 60_000)
  const peers: Array<{ peerId: string }> = await follower.call('peers')
  const info = await follower.call('info')
  const status = await store.status()
  const head = store.head()
  const protocolsWhileEmbedded = libp2p.getProtocols()
  await store.stop()
  console.log(JSON.stringify({
    hostPeerId: libp2p.peerId.toString(),
    storePeerId: status.network?.peerId,
    followerSeesHost: peers.some(p => p.peerId === libp2p.peerId.toString()),
    followerHead: reached.height,
    sameHead: reached.cid === head?.cid.toString(),
    followerPeerId: info.peerId,
    hostRunningAfterStop: libp2p.status === 'started',
    addedWhileEmbedded: protocolsWhileEmbedded.filter(p => !protocolsBefore.includes(p)),
    leftAfterStop: libp2p.getProtocols().filter(p => !protocolsBefore.includes(p)),
    hostHelloAfterStop: libp2p.getProtocols().includes(HELLO)
  }))
} finally {
  await store.stop()
  await follower.stop()
  await libp2p.stop()
  await rm(dir, { recursive: true, force: true })
}
