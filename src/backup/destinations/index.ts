import { fileURLToPath } from 'node:url'
import { InvalidDestinationError } from '../errors.ts'
import type { BackupDestination, BackupTarget, DestinationSpec } from '../types.ts'
import { DirDestination } from './dir.ts'

/** A destination URL taken apart: the kind, and the directory or bucket/container and key prefix. */
export type ParsedDestination =
  | { kind: 'dir', name: string, path: string }
  | { kind: 's3' | 'azure', name: string, container: string, prefix: string }

/** Names as S3 and Azure allow them (3-63 characters; lower case, digits, `-`, and `.` for S3). */
const CONTAINER = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/

/**
 * Parses a destination URL: `/path` (or any path without a scheme),
 * `file:///path`, `s3://bucket[/prefix]`, `azure://container[/prefix]`.
 * Credentials in the URL are refused (they would end up in logs and
 * process listings); the message never repeats the URL in that case.
 */
export function parseDestination (url: string): ParsedDestination {
  if (url.length === 0) throw new InvalidDestinationError('a destination URL is empty', '')
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase()
  if (scheme == null) return { kind: 'dir', name: url, path: url }
  let u: URL
  try { u = new URL(url) } catch { throw new InvalidDestinationError(`destination ${url} is not a URL`, url) }
  if (u.username !== '' || u.password !== '') throw new InvalidDestinationError(`a ${scheme}:// destination URL carries credentials; give them through the environment instead`, `${scheme}://`)
  if (scheme === 'file') {
    const path = fileURLToPath(u)
    return { kind: 'dir', name: path, path }
  }
  if (scheme !== 's3' && scheme !== 'azure') throw new InvalidDestinationError(`destination ${url}: unknown scheme ${scheme}:// (expected a path, file://, s3:// or azure://)`, url)
  const container = u.hostname
  if (!CONTAINER.test(container)) throw new InvalidDestinationError(`destination ${url}: ${JSON.stringify(container)} is not a valid ${scheme === 's3' ? 'bucket' : 'container'} name`, url)
  if (u.search !== '' || u.hash !== '' || u.port !== '') throw new InvalidDestinationError(`destination ${url}: a query, fragment or port has no meaning here (set the endpoint in config backup.destinations)`, url)
  const parts = decodeURIComponent(u.pathname).split('/').filter(p => p !== '')
  if (parts.some(p => p === '.' || p === '..')) throw new InvalidDestinationError(`destination ${url}: the prefix holds . or ..`, url)
  const prefix = parts.length === 0 ? '' : parts.join('/') + '/'
  return { kind: scheme, name: `${scheme}://${container}${prefix === '' ? '' : '/' + prefix.slice(0, -1)}`, container, prefix }
}

const S3_ONLY = ['endpoint', 'region', 'forcePathStyle', 'accessKeyIdEnv', 'secretAccessKeyEnv', 'sessionTokenEnv', 'checksums'] as const
const AZURE_ONLY = ['accountUrl', 'accountName', 'connectionStringEnv', 'accountKeyEnv', 'sasTokenEnv'] as const

/** True for an opened destination (not a path or a spec). */
export function isDestination (x: unknown): x is BackupDestination {
  return x != null && typeof x === 'object' && typeof (x as BackupDestination).read === 'function' && typeof (x as BackupDestination).write === 'function'
}

/**
 * Opens a destination: a local directory at once, an S3 bucket or Azure
 * container after loading its SDK with import() (DestinationPackageMissingError
 * when it is not installed). Options of another kind are refused.
 */
export async function openDestination (target: BackupTarget, env: NodeJS.ProcessEnv = process.env): Promise<BackupDestination> {
  if (isDestination(target)) return target
  const spec: DestinationSpec = typeof target === 'string' ? { url: target } : target
  const p = parseDestination(spec.url)
  const foreign = p.kind === 's3' ? AZURE_ONLY : p.kind === 'azure' ? S3_ONLY : [...S3_ONLY, ...AZURE_ONLY]
  const wrong = foreign.filter(k => spec[k] != null)
  if (wrong.length > 0) throw new InvalidDestinationError(`destination ${p.name}: ${wrong.join(', ')} ${wrong.length === 1 ? 'is an option' : 'are options'} of another kind of destination`, p.name)
  if (p.kind === 'dir') return new DirDestination(p.path)
  // each SDK's module is itself loaded only here, so an import of chainstore never loads it
  if (p.kind === 's3') return await (await import('./s3.ts')).S3Destination.open(p.name, p.container, p.prefix, spec, env)
  return await (await import('./azure.ts')).AzureDestination.open(p.name, p.container, p.prefix, spec, env)
}

export { DirDestination } from './dir.ts'
