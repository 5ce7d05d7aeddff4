import { readFile } from 'node:fs/promises'
import { InvalidConfigError } from './errors.ts'
import { configSchema, type ChainStoreConfig, type ChainStoreConfigInput } from './schema.ts'

export { configSchema, type ChainStoreConfig, type ChainStoreConfigInput } from './schema.ts'
export { InvalidConfigError } from './errors.ts'
export * from './constants.ts'

/** Validates a config object and fills in defaults. */
export function parseConfig (input: unknown = {}): ChainStoreConfig {
  const result = configSchema.safeParse(input ?? {})
  if (!result.success) {
    const detail = result.error.issues.map(i => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')
    throw new InvalidConfigError(`invalid config: ${detail}`, { cause: result.error })
  }
  return result.data
}

/** Environment variables that override config fields (applied after the file). */
export const ENV_OVERRIDES = {
  CHAINSTORE_DATA_DIR: 'dataDir',
  CHAINSTORE_DURABILITY: 'durability',
  CHAINSTORE_API_PORT: 'api.port',
  CHAINSTORE_API_HOST: 'api.host'
} as const

/**
 * Loads config. Highest first: explicit overrides (the CLI's flags), then
 * `CHAINSTORE_*` environment variables, then the JSON file (if named), then
 * `defaults` (the CLI's node home as data dir), then the schema's defaults.
 */
export async function loadConfig (options: { file?: string, env?: NodeJS.ProcessEnv, overrides?: ChainStoreConfigInput, defaults?: ChainStoreConfigInput } = {}): Promise<ChainStoreConfig> {
  let fromFile: Record<string, unknown> = {}
  if (options.file != null) {
    let parsed: unknown
    try {
      parsed = JSON.parse(await readFile(options.file, 'utf8'))
    } catch (err) {
      throw new InvalidConfigError(`cannot read config file ${options.file}: ${(err as Error).message}`, { cause: err })
    }
    // `null`, an array or a scalar is no config: taking it as "all defaults" would hide a broken file
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new InvalidConfigError(`config file ${options.file} holds ${parsed === null ? 'null' : Array.isArray(parsed) ? 'an array' : `a ${typeof parsed}`}; expected a JSON object`)
    }
    fromFile = parsed as Record<string, unknown>
  }
  const merged: Record<string, any> = { ...structuredClone(options.defaults ?? {}), ...structuredClone(fromFile) }
  const env = options.env ?? process.env
  for (const [name, path] of Object.entries(ENV_OVERRIDES)) {
    const raw = env[name]
    if (raw == null || raw === '') continue
    const [head, tail] = path.split('.')
    const value = name === 'CHAINSTORE_API_PORT' ? Number(raw) : raw
    if (tail == null) merged[head] = value
    else merged[head] = { ...(merged[head] ?? {}), [tail]: value }
  }
  for (const [key, value] of Object.entries(options.overrides ?? {})) {
    merged[key] = typeof value === 'object' && value !== null && !Array.isArray(value)
      ? { ...(merged[key] ?? {}), ...value }
      : value
  }
  return parseConfig(merged)
}
