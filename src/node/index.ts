import { parseConfig, type ChainStoreConfigInput } from '../config/index.ts'
import { createLogger, type Logger } from '../logger.ts'
import type { Libp2p } from '@libp2p/interface'
import { ChainStore } from './chainstore.ts'

/** Options beside the config. */
export interface CreateOptions {
  /** Parent logger; each room logs through a child of it. */
  logger?: Logger
  /**
   * The embedding node's own libp2p (with `identify` and a gossipsub `pubsub`
   * service): with `network.enabled`, chainstore registers its protocols,
   * topics and bitswap on it and opens no second host; its peer id is the one
   * peers see. The host keeps ownership: `stop()` leaves it running.
   */
  libp2p?: Libp2p
}

/** Validates the config, opens the data dir and returns a started store; call `stop()` when done. */
export async function createChainStore (config: ChainStoreConfigInput = {}, options: CreateOptions = {}): Promise<ChainStore> {
  const parsed = parseConfig(config)
  const logger = options.logger ?? createLogger(parsed.logLevel != null ? { level: parsed.logLevel } : {})
  return await ChainStore.open(parsed, logger, options.libp2p != null ? { libp2p: options.libp2p } : {})
}

export { ChainStore, type BlockRef, type StoreOptions } from './chainstore.ts'
export type * from './types.ts'
