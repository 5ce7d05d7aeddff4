/**
 * A stock Helia as an app builds it (no chainstore code): LevelDB block and
 * data stores in `dir`, libp2p on 127.0.0.1 (TCP, noise, yamux, identify,
 * gossipsub), bitswap with short debounces. Used by the stock OrbitDB peer
 * (a child process) and the upstream reproduction test.
 */
import { join } from 'node:path'
import { withBitswap } from '@helia/bitswap'
import { withLibp2pLight } from '@helia/libp2p'
import * as dagCbor from '@ipld/dag-cbor'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { LevelBlockstore } from 'blockstore-level'
import { LevelDatastore } from 'datastore-level'
import { createHeliaLight } from 'helia'

/** Starts the Helia; `stop` stops it and closes its stores. */
export async function stockHelia (dir: string): Promise<{ helia: any, stop: () => Promise<void> }> {
  const blockstore = new LevelBlockstore(join(dir, 'blocks'))
  const datastore = new LevelDatastore(join(dir, 'data'))
  await blockstore.open()
  await datastore.open()
  const helia: any = withBitswap(withLibp2pLight(createHeliaLight({ blockstore, datastore, codecs: [dagCbor] } as any), {
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery: [],
    services: { identify: identify(), pubsub: gossipsub({ allowPublishToZeroTopicPeers: true }) }
  } as any), { sendWantlistDebounce: 10, sendBlocksDebounce: 10 })
  await helia.start()
  return { helia, stop: async () => { await helia.stop(); await blockstore.close(); await datastore.close() } }
}
