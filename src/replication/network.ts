import { withBitswap } from '@helia/bitswap'
import { withLibp2pLight } from '@helia/libp2p'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import type { PrivateKey } from '@libp2p/interface'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import type { Helia } from 'helia'
import { DEFAULT_PING_INTERVAL_MS, DEFAULT_PING_TIMEOUT_MS } from '../config/constants.ts'

/**
 * Puts libp2p (TCP, noise, yamux, identify, gossipsub) and bitswap on a
 * light Helia. Nothing here reaches past the configured listen addresses and
 * peers: no bootstrap list, no mDNS, no DHT, no delegated routing, no UPnP
 * (STACK-NOTES pitfall 1).
 */
export function withNetwork<T extends Helia> (helia: T, options: { privateKey?: PrivateKey, listen: string[], pingIntervalMs?: number, pingTimeoutMs?: number }): T {
  const { pingIntervalMs = DEFAULT_PING_INTERVAL_MS, pingTimeoutMs = DEFAULT_PING_TIMEOUT_MS } = options
  return withBitswap(withLibp2pLight(helia as any, {
    ...(options.privateKey != null ? { privateKey: options.privateKey } : {}),
    addresses: { listen: options.listen },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery: [],
    // dead links are found by ping, not by TCP's backed-off retransmission
    // (config network.pingIntervalMs / pingTimeoutMs); the timeout is
    // adaptive (RTT x 1.2) between these bounds
    connectionMonitor: { pingInterval: pingIntervalMs, pingTimeout: { minTimeout: pingTimeoutMs, maxTimeout: Math.max(pingTimeoutMs, 30_000) } },
    services: {
      identify: identify(),
      // a lone node must still be able to append (pitfall 5)
      pubsub: gossipsub({ allowPublishToZeroTopicPeers: true })
    }
  } as any), { sendWantlistDebounce: 10, sendBlocksDebounce: 10 } as any) as unknown as T
}
