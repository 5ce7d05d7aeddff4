import { withBitswap } from '@helia/bitswap'
import { withLibp2pLight } from '@helia/libp2p'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import type { PrivateKey } from '@libp2p/interface'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import type { Helia } from 'helia'
import { coalescingTcp } from './coalescing-tcp.ts'

/**
 * Puts libp2p (TCP with writes coalesced per turn, noise, yamux, identify,
 * gossipsub) and bitswap on a
 * light Helia. Nothing here reaches past the configured listen addresses and
 * peers: no bootstrap list, no mDNS, no DHT, no delegated routing, no UPnP
 * (STACK-NOTES pitfall 1); peers learned of come from chainstore's own
 * announcements on the network's gossipsub (discovery.ts).
 */
export function withNetwork<T extends Helia> (helia: T, options: { privateKey?: PrivateKey, listen: string[], announce?: string[], pingIntervalMs: number, pingTimeoutMs: number, maxConnections: number }): T {
  return withBitswap(withLibp2pLight(helia as any, {
    ...(options.privateKey != null ? { privateKey: options.privateKey } : {}),
    addresses: { listen: options.listen, ...(options.announce != null && options.announce.length > 0 ? { announce: options.announce } : {}) },
    transports: [coalescingTcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery: [],
    // bounded cost per node: beyond this libp2p closes the least valuable connections
    // (peers are found through the gossipsub topic of src/replication/discovery.ts)
    connectionManager: { maxConnections: options.maxConnections },
    // dead links are found by ping, not by TCP's backed-off retransmission
    // (config network.pingIntervalMs / pingTimeoutMs); min = max pins
    // libp2p's adaptive ping timeout to the configured one
    connectionMonitor: { pingInterval: options.pingIntervalMs, pingTimeout: { minTimeout: options.pingTimeoutMs, maxTimeout: options.pingTimeoutMs } },
    services: {
      identify: identify(),
      // a lone node must still be able to append (pitfall 5)
      pubsub: gossipsub({ allowPublishToZeroTopicPeers: true })
    }
  } as any), { sendWantlistDebounce: 10, sendBlocksDebounce: 10 } as any) as unknown as T
}
