import type { Libp2p } from '@libp2p/interface'
import type { Helia } from 'helia'
import { HostLibp2pError } from './errors.ts'

/**
 * Puts a libp2p node the embedding application already runs under a light
 * Helia: chainstore then registers its protocols, topics and bitswap on that
 * host and opens no second one. The host keeps ownership: Helia's start
 * starts it only if it is not running, and Helia's stop leaves it running.
 * OrbitDB needs the host's `pubsub` service (gossipsub) and peers find each
 * other's protocols through `identify`.
 */
export function onHostLibp2p<T extends Helia> (helia: T, libp2p: Libp2p): T & { libp2p: Libp2p } {
  const services = libp2p.services as Record<string, unknown>
  for (const name of ['pubsub', 'identify']) {
    if (services[name] == null) throw new HostLibp2pError(`the host libp2p node has no '${name}' service: chainstore replicates over gossipsub ('pubsub') and needs 'identify'`)
  }
  Object.defineProperty(helia, 'libp2p', { configurable: true, enumerable: true, value: libp2p })
  ;(helia as any).addMixin({
    name: 'host-libp2p',
    start: async () => { if (libp2p.status !== 'started') await libp2p.start() },
    stop: async () => {}
  })
  return helia as T & { libp2p: Libp2p }
}
