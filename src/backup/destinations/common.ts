import { BackupDestinationError, DestinationAuthError, DestinationNotFoundError, DestinationObjectNotFoundError, DestinationPackageMissingError, DestinationUnavailableError } from '../errors.ts'

/** How an SDK error reads to the backup code: which typed error it becomes. */
export type FailureKind = 'auth' | 'no-container' | 'no-object' | 'unavailable' | 'other'

/** Patterns that carry secrets in URLs, connection strings and signed headers, whatever the secret's value. */
const SECRET_PATTERNS: Array<[RegExp, string]> = [
  [/([?&](?:sig|se|sv|sp|X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token)=)[^&\s"']*/gi, '$1***'],
  [/((?:AccountKey|SharedAccessSignature)=)[^;\s"']*/gi, '$1***'],
  [/(Signature=)[^,\s"']*/g, '$1***'],
  [/(Credential=)[^,\s"']*/g, '$1***'],
  [/(SharedKey(?:Lite)? [^:\s]+:)[^\s"']*/g, '$1***']
]

/**
 * Removes credentials from a text: every known secret value (the keys the
 * destination read from the environment) and whatever sits in the places
 * secrets go (SAS parameters, connection-string keys, signatures).
 */
export function redact (text: string, secrets: readonly string[]): string {
  let out = text
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('***')
  for (const [re, to] of SECRET_PATTERNS) out = out.replace(re, to)
  return out
}

/** A short summary of an SDK error (name, code, HTTP status, message), redacted: kept as `cause` instead of the SDK's error, which holds request headers and URLs. */
export function summarize (err: unknown, secrets: readonly string[]): Error {
  const e = err as { name?: string, code?: string, Code?: string, statusCode?: number, $metadata?: { httpStatusCode?: number }, message?: string }
  const status = e?.$metadata?.httpStatusCode ?? e?.statusCode
  const code = e?.Code ?? e?.code
  const head = [e?.name ?? 'Error', code != null && code !== e?.name ? code : null, status != null ? `HTTP ${status}` : null].filter(x => x != null).join(' ')
  const out = new Error(redact(`${head}: ${String(e?.message ?? err).split('\n')[0]}`, secrets))
  out.name = 'DestinationCause'
  return out
}

/** The typed error for a failed destination call: `what` says what was being done (`listing`, `writing chain.car`). */
export function destinationError (kind: FailureKind, what: string, destination: string, err: unknown, secrets: readonly string[], extra = ''): Error {
  if (err instanceof BackupDestinationError || err instanceof DestinationNotFoundError) return err
  const cause = summarize(err, secrets)
  const why = `${cause.message}${extra}`
  switch (kind) {
    case 'auth': return new DestinationAuthError(`${destination}: ${what}: the credentials were refused (${why})`, destination, {}, { cause })
    case 'no-container': return new DestinationNotFoundError(`${destination}: ${what}: the bucket or container does not exist (${why})`, destination, { cause })
    case 'no-object': return new DestinationObjectNotFoundError(`${destination}: ${what}: no such object (${why})`, destination, {}, { cause })
    case 'unavailable': return new DestinationUnavailableError(`${destination}: ${what}: the destination is unavailable (${why})`, destination, {}, { cause })
    default: return new BackupDestinationError(`${destination}: ${what}: ${why}`, destination, {}, { cause })
  }
}

/** Network failures: the service is down or went away mid-request. */
export function isNetworkError (err: unknown): boolean {
  const e = err as { code?: string, name?: string, message?: string, cause?: { code?: string } }
  const code = e?.code ?? e?.cause?.code
  return ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'ERR_STREAM_PREMATURE_CLOSE', 'REQUEST_SEND_ERROR'].includes(code ?? '') ||
    e?.name === 'TimeoutError' || /socket hang up|aborted|premature close|other side closed/i.test(e?.message ?? '')
}

/**
 * Loads an optional SDK with import(): the cloud SDKs are optional peer
 * dependencies, loaded only when a destination of their kind is used.
 */
export async function loadOptional<T> (load: () => Promise<T>, packageName: string, destination: string): Promise<T> {
  try {
    return await load()
  } catch (err) {
    const e = err as { code?: string, message?: string }
    if ((e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND') && (e.message ?? '').includes(packageName)) {
      throw new DestinationPackageMissingError(packageName, destination, { cause: err })
    }
    throw err
  }
}

/** Checks a key is relative and plain: `/`-separated names, no `.` or `..`, no empty part. */
export function checkKey (key: string): boolean {
  return key.length > 0 && key.split('/').every(p => p !== '' && p !== '.' && p !== '..' && !p.includes('\\'))
}
