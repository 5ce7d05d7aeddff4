import { parseConfig, type ChainStoreConfigInput } from '../config/index.ts'
import { createLogger, type Logger } from '../logger.ts'
import { ChainStore } from './chainstore.ts'

/** Options beside the config. */
export interface CreateOptions {
  /** Parent logger; each room logs through a child of it. */
  logger?: Logger
}

/** Validates the config, opens the data dir and returns a started store; call `stop()` when done. */
export async function createChainStore (config: ChainStoreConfigInput = {}, options: CreateOptions = {}): Promise<ChainStore> {
  const parsed = parseConfig(config)
  const logger = options.logger ?? createLogger(parsed.logLevel != null ? { level: parsed.logLevel } : {})
  return await ChainStore.open(parsed, logger)
}

export { ChainStore, type BlockRef, type StoreOptions } from './chainstore.ts'
export type * from './types.ts'
