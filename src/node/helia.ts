import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import * as dagCbor from '@ipld/dag-cbor'
import type { Helia } from 'helia'
import type { ChainStoreConfig } from '../config/index.ts'
import type { Logger } from '../logger.ts'
import { withNotFound } from '../storage/helia-blockstore.ts'
import type { ImportAwareBlockstore } from '../storage/import-aware.ts'
import { HELIA_SUBLEVEL } from '../storage/keys.ts'
import type { RootDb } from '../storage/level.ts'
import type { HostParts } from './types.ts'

const require = createRequire(import.meta.url)

/**
 * Loads an ES module synchronously (Node's require of ESM) from the file its
 * `import` condition resolves to: datastore-level's `module-sync` condition
 * names a `src/` file its package does not ship, so `require('datastore-level')`
 * fails while the resolved `dist/` entry loads.
 */
function loadSync<T> (specifier: string): T {
  return require(fileURLToPath(import.meta.resolve(specifier))) as T
}

/**
 * The store's Helia over its blockstore and datastore. With the network on it
 * is built and started at open, with libp2p and bitswap. With the network off
 * it is built on first use: Helia's package entry loads its whole network
 * stack (libp2p's default transports among them, ~1.2 s and ~90 MiB), which a
 * local store that never touches `store.helia` should not pay at start.
 */
export class HeliaRoom {
  #helia: Helia | null = null
  #started: Promise<unknown> = Promise.resolve()
  readonly #build: () => Helia
  readonly #log: Logger

  private constructor (build: () => Helia, log: Logger) {
    this.#build = build
    this.#log = log
  }

  /** Builds the room: networked and started now when the network is on, light and on first use otherwise. */
  static async open (config: ChainStoreConfig, db: RootDb, blockstore: ImportAwareBlockstore, host: HostParts, log: Logger): Promise<HeliaRoom> {
    const light = (): Helia => {
      const { createHeliaLight } = require('helia') as typeof import('helia')
      const { LevelDatastore } = loadSync<typeof import('datastore-level')>('datastore-level')
      const datastore = new LevelDatastore(db.sublevel(HELIA_SUBLEVEL, { keyEncoding: 'utf8', valueEncoding: 'view' }) as any)
      const helia = createHeliaLight({ blockstore, datastore, codecs: [dagCbor] })
      // what we hand to others keeps the Blockstore contract: a missing block is NotFoundError
      helia.blockstore = withNotFound(helia.blockstore)
      return helia
    }
    if (!config.network.enabled) {
      const room = new HeliaRoom(light, log)
      return room
    }
    let helia = light()
    // the network stack (libp2p, bitswap) is loaded only when the network is on
    if (host.libp2p != null) {
      const [{ withBitswap }, { onHostLibp2p }] = await Promise.all([import('@helia/bitswap'), import('../replication/host.ts')])
      helia = withBitswap(onHostLibp2p(helia, host.libp2p), { sendWantlistDebounce: 10, sendBlocksDebounce: 10 } as any)
    } else {
      const [{ withNetwork }, { loadPeerKey }] = await Promise.all([import('../replication/network.ts'), import('../replication/keys.ts')])
      helia = withNetwork(helia, { ...config.network, privateKey: await loadPeerKey(config.dataDir, config.network.seed) })
    }
    await helia.start()
    const room = new HeliaRoom(() => helia, log)
    room.#helia = helia
    return room
  }

  /** The Helia, built (and its start begun) on first call when the network is off. */
  get (): Helia {
    if (this.#helia == null) {
      const helia = this.#build()
      this.#helia = helia
      // a light Helia's start only checks its datastore version; nothing it serves waits on it
      this.#started = helia.start().catch(err => { this.#log.warn({ err }, 'helia start failed') })
    }
    return this.#helia
  }

  /** True once the Helia exists (the network is on, or `get` was called). */
  get built (): boolean { return this.#helia != null }

  async stop (): Promise<void> {
    if (this.#helia == null) return
    await this.#started
    await this.#helia.stop()
  }
}
