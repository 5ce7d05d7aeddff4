import { existsSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'

/**
 * The node's home, as Kubo has `~/.ipfs`: one directory that holds the data
 * and the config file, found without flags. Highest first:
 *   data dir:    -d, CHAINSTORE_DATA_DIR, the config file's `dataDir`, the home
 *   home:        -d, CHAINSTORE_DATA_DIR, CHAINSTORE_PATH, ~/.chainstore
 *   config file: -c, CHAINSTORE_CONFIG, <home>/config.json (when it exists)
 */
export const HOME_DIR_NAME = '.chainstore'
export const CONFIG_FILE_NAME = 'config.json'

/** Where a CLI run finds its home and config file, and what named each. */
export interface NodePlaces {
  home: string
  homeFrom: '-d' | 'CHAINSTORE_DATA_DIR' | 'CHAINSTORE_PATH' | 'default'
  /** The config file to read, or undefined (none named, none in the home). */
  configFile?: string
  configFrom: '-c' | 'CHAINSTORE_CONFIG' | 'home' | 'none'
}

/** An environment variable's value, or undefined when unset or empty. */
export function nonEmpty (v: string | undefined): string | undefined {
  return v == null || v === '' ? undefined : v
}

/** Resolves the home and config file from the global flags and the environment. */
export function nodePlaces (flags: { config?: string, dataDir?: string }, env: NodeJS.ProcessEnv = process.env): NodePlaces {
  const fromEnv = nonEmpty(env.CHAINSTORE_DATA_DIR)
  const path = nonEmpty(env.CHAINSTORE_PATH)
  const [home, homeFrom] = flags.dataDir != null
    ? [flags.dataDir, '-d'] as const
    : fromEnv != null ? [fromEnv, 'CHAINSTORE_DATA_DIR'] as const
      : path != null ? [path, 'CHAINSTORE_PATH'] as const
        : [join(homedir(), HOME_DIR_NAME), 'default'] as const
  const envConfig = nonEmpty(env.CHAINSTORE_CONFIG)
  if (flags.config != null) return { home, homeFrom, configFile: flags.config, configFrom: '-c' }
  if (envConfig != null) return { home, homeFrom, configFile: envConfig, configFrom: 'CHAINSTORE_CONFIG' }
  const inHome = join(home, CONFIG_FILE_NAME)
  return existsSync(inHome) ? { home, homeFrom, configFile: inHome, configFrom: 'home' } : { home, homeFrom, configFrom: 'none' }
}
