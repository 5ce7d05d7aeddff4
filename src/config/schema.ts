import { z } from 'zod'
import {
  DEFAULT_ALLOW_GAPS, DEFAULT_API_HOST, DEFAULT_API_PORT, DEFAULT_CACHE_BYTES, DEFAULT_DATA_DIR,
  DEFAULT_DURABILITY, DEFAULT_MAX_BLOCK_BYTES, DEFAULT_MAX_TX_BYTES, DEFAULT_MAX_TXS_PER_BLOCK,
  DEFAULT_PAGE_BYTES, DEFAULT_LEVEL_CACHE, DEFAULT_LEVEL_WRITE_BUFFER
} from './constants.ts'

/** Schema of the one typed config; defaults are applied here and nowhere else. */
export const configSchema = z.object({
  dataDir: z.string().min(1).default(DEFAULT_DATA_DIR),
  durability: z.enum(['process', 'power']).default(DEFAULT_DURABILITY),
  allowGaps: z.boolean().default(DEFAULT_ALLOW_GAPS),
  limits: z.object({
    maxTxBytes: z.number().int().positive().default(DEFAULT_MAX_TX_BYTES),
    maxBlockBytes: z.number().int().positive().default(DEFAULT_MAX_BLOCK_BYTES),
    maxTxsPerBlock: z.number().int().positive().default(DEFAULT_MAX_TXS_PER_BLOCK),
    pageBytes: z.number().int().min(1024).default(DEFAULT_PAGE_BYTES)
  }).prefault({}),
  cache: z.object({
    maxBytes: z.number().int().nonnegative().default(DEFAULT_CACHE_BYTES)
  }).prefault({}),
  level: z.object({
    writeBufferSize: z.number().int().min(1024 * 1024).default(DEFAULT_LEVEL_WRITE_BUFFER),
    cacheSize: z.number().int().nonnegative().default(DEFAULT_LEVEL_CACHE)
  }).prefault({}),
  api: z.object({
    host: z.string().default(DEFAULT_API_HOST),
    port: z.number().int().min(0).max(65535).default(DEFAULT_API_PORT)
  }).prefault({}),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional()
}).strict()

/** What a caller may pass: every field optional. */
export type ChainStoreConfigInput = z.input<typeof configSchema>
/** The config after defaults: every field present. */
export type ChainStoreConfig = z.output<typeof configSchema>
