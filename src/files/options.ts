import type { Chunker } from 'ipfs-unixfs-importer/chunker'
import type { FileLayout } from 'ipfs-unixfs-importer/layout'
import { ADD_FILE_OPTION_KEYS, DEFAULT_FILE_PROFILE, FILE_PROFILES, MAX_CHILDREN_PER_NODE, MAX_CHUNK_SIZE, MIN_CHILDREN_PER_NODE, type ProfileSettings } from './constants.ts'
import { InvalidFileOptionsError } from './errors.ts'
import type { AddFileOptions } from './types.ts'

/** What the importer is given: every setting explicit, the chunker and layout built here. */
export interface ImportSettings {
  cidVersion: 0 | 1
  rawLeaves: boolean
  chunker: Chunker
  layout: FileLayout
}

const KNOWN_KEYS = new Set<string>(ADD_FILE_OPTION_KEYS)

function show (value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.slice(0, 40))
  if (typeof value === 'bigint') return `${value}n`
  if (value === null || typeof value !== 'object') return String(value)
  return Array.isArray(value) ? 'an array' : 'an object'
}

function bad (key: string, value: unknown, expected: string): InvalidFileOptionsError {
  return new InvalidFileOptionsError(`addFile: option ${key} must be ${expected}, got ${show(value)}`)
}

function integerIn (key: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) throw bad(key, value, `an integer from ${min} to ${max}`)
  return value
}

function oneOf<T extends string | number> (key: string, value: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) throw bad(key, value, `one of ${allowed.map(a => JSON.stringify(a)).join(', ')}`)
  return value as T
}

/**
 * The settings of an `addFile` call: its profile's (default
 * `unixfs-v1-2025`), each overridden by an explicit option; unknown keys and
 * values out of range throw `InvalidFileOptionsError`. A key set to
 * `undefined` counts as absent.
 */
export function resolveFileSettings (options: AddFileOptions, maxBlockBytes: number): ProfileSettings {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw new InvalidFileOptionsError(`addFile: options must be an object, got ${show(options)}`)
  const given = Object.entries(options).filter(([, v]) => v !== undefined)
  const unknown = given.find(([k]) => !KNOWN_KEYS.has(k))
  if (unknown != null) throw new InvalidFileOptionsError(`addFile: unknown option ${unknown[0]} (${show(unknown[1])}); known: ${ADD_FILE_OPTION_KEYS.join(', ')}`)
  const o = Object.fromEntries(given) as Record<string, unknown>
  const profile = o.profile === undefined ? DEFAULT_FILE_PROFILE : oneOf('profile', o.profile, Object.keys(FILE_PROFILES) as Array<keyof typeof FILE_PROFILES>)
  const base = FILE_PROFILES[profile]
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw bad('signal', o.signal, 'an AbortSignal')
  if (o.rawLeaves !== undefined && typeof o.rawLeaves !== 'boolean') throw bad('rawLeaves', o.rawLeaves, 'a boolean')
  const maxChunk = Math.min(MAX_CHUNK_SIZE, maxBlockBytes)
  return {
    cidVersion: o.cidVersion === undefined ? base.cidVersion : oneOf('cidVersion', o.cidVersion, [0, 1] as const),
    rawLeaves: (o.rawLeaves as boolean | undefined) ?? base.rawLeaves,
    chunkSize: o.chunkSize === undefined ? Math.min(base.chunkSize, maxChunk) : integerIn('chunkSize', o.chunkSize, 1, maxChunk),
    maxChildrenPerNode: o.maxChildrenPerNode === undefined ? base.maxChildrenPerNode : integerIn('maxChildrenPerNode', o.maxChildrenPerNode, MIN_CHILDREN_PER_NODE, MAX_CHILDREN_PER_NODE),
    layout: o.layout === undefined ? base.layout : oneOf('layout', o.layout, ['balanced', 'trickle'] as const)
  }
}

/**
 * The importer options for these settings, with the chunker and layout
 * built here: @helia/unixfs merges its own `fixedSize(1 MiB)` and
 * `balanced(1024)` into every add, and the importer applies a profile's
 * chunk size and link count only when neither is given (docs/PITFALLS.md).
 */
export async function importSettings (s: ProfileSettings): Promise<ImportSettings> {
  // loaded with the first file added, not when the store opens
  const [{ fixedSize }, { balanced, trickle }] = await Promise.all([import('ipfs-unixfs-importer/chunker'), import('ipfs-unixfs-importer/layout')])
  return {
    cidVersion: s.cidVersion,
    rawLeaves: s.rawLeaves,
    chunker: fixedSize({ chunkSize: s.chunkSize }),
    layout: s.layout === 'trickle' ? trickle({ maxChildrenPerNode: s.maxChildrenPerNode }) : balanced({ maxChildrenPerNode: s.maxChildrenPerNode })
  }
}
