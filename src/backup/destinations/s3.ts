import { Readable } from 'node:stream'
import type { S3Client } from '@aws-sdk/client-s3'
import { DEFAULT_PART_BYTES, DEFAULT_UPLOAD_QUEUE, DESTINATION_MAX_ATTEMPTS } from '../constants.ts'
import { InvalidDestinationError } from '../errors.ts'
import type { BackupDestination, BackupObject, DestinationCallOptions, DestinationSpec } from '../types.ts'
import { checkKey, destinationError, isNetworkError, loadOptional, type FailureKind } from './common.ts'

type S3Sdk = typeof import('@aws-sdk/client-s3')
type Storage = typeof import('@aws-sdk/lib-storage')

/** Which typed error an S3 SDK error becomes. */
function classify (err: unknown): FailureKind {
  const e = err as { name?: string, Code?: string, $metadata?: { httpStatusCode?: number } }
  const name = e?.name ?? ''
  const status = e?.$metadata?.httpStatusCode
  if (['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'ExpiredToken', 'InvalidToken', 'CredentialsProviderError', 'AuthorizationHeaderMalformed'].includes(name) || status === 401 || status === 403) return 'auth'
  if (name === 'NoSuchBucket') return 'no-container'
  if (name === 'NoSuchKey' || name === 'NotFound' || status === 404) return 'no-object'
  if (isNetworkError(err) || (status != null && status >= 500)) return 'unavailable'
  return 'other'
}

/**
 * An S3-compatible bucket (AWS S3, Cloudflare R2, MinIO, GCS
 * interoperability, ...) through @aws-sdk/client-s3, with
 * @aws-sdk/lib-storage's Upload for writes: multipart in parts of
 * `partBytes`, `queueSize` parts in flight, so an object of any size goes up
 * with about partBytes × queueSize in memory; an object shorter than one
 * part is one PutObject. Both packages are loaded on first use.
 */
export class S3Destination implements BackupDestination {
  readonly kind = 's3' as const
  readonly name: string
  readonly #bucket: string
  readonly #prefix: string
  readonly #client: S3Client
  readonly #sdk: S3Sdk
  readonly #storage: Storage
  readonly #secrets: string[]
  readonly #partBytes: number
  readonly #queueSize: number

  private constructor (name: string, bucket: string, prefix: string, sdk: S3Sdk, storage: Storage, client: S3Client, secrets: string[], spec: DestinationSpec) {
    this.name = name
    this.#bucket = bucket
    this.#prefix = prefix
    this.#sdk = sdk
    this.#storage = storage
    this.#client = client
    this.#secrets = secrets
    this.#partBytes = spec.partBytes ?? DEFAULT_PART_BYTES
    this.#queueSize = spec.queueSize ?? DEFAULT_UPLOAD_QUEUE
  }

  /** Loads the SDK and makes the client: endpoint, region and credentials from the spec, else the SDK's usual environment. */
  static async open (name: string, bucket: string, prefix: string, spec: DestinationSpec, env: NodeJS.ProcessEnv = process.env): Promise<S3Destination> {
    const sdk = await loadOptional(async () => await import('@aws-sdk/client-s3'), '@aws-sdk/client-s3', name)
    const storage = await loadOptional(async () => await import('@aws-sdk/lib-storage'), '@aws-sdk/lib-storage', name)
    const fromEnv = (what: string, envName: string | undefined): string | undefined => {
      if (envName == null) return undefined
      const v = env[envName]
      if (v == null || v === '') throw new InvalidDestinationError(`${name}: ${what} is to come from the environment variable ${envName}, which is not set`, name)
      return v
    }
    const accessKeyId = fromEnv('the access key id', spec.accessKeyIdEnv)
    const secretAccessKey = fromEnv('the secret access key', spec.secretAccessKeyEnv)
    const sessionToken = fromEnv('the session token', spec.sessionTokenEnv)
    if ((accessKeyId == null) !== (secretAccessKey == null)) throw new InvalidDestinationError(`${name}: accessKeyIdEnv and secretAccessKeyEnv go together`, name)
    const endpoint = spec.endpoint ?? env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL
    const checksums = (spec.checksums ?? 'when-required') === 'when-required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED'
    const client = new sdk.S3Client({
      region: spec.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
      ...(endpoint != null ? { endpoint } : {}),
      forcePathStyle: spec.forcePathStyle ?? endpoint != null,
      ...(accessKeyId != null ? { credentials: { accessKeyId, secretAccessKey: secretAccessKey!, ...(sessionToken != null ? { sessionToken } : {}) } } : {}),
      requestChecksumCalculation: checksums,
      responseChecksumValidation: checksums,
      maxAttempts: DESTINATION_MAX_ATTEMPTS
    })
    const secrets = [accessKeyId, secretAccessKey, sessionToken, env.AWS_SECRET_ACCESS_KEY, env.AWS_SESSION_TOKEN, env.AWS_ACCESS_KEY_ID].filter((x): x is string => x != null && x !== '')
    return new S3Destination(name, bucket, prefix, sdk, storage, client, secrets, spec)
  }

  #key (key: string): string {
    if (!checkKey(key)) throw new InvalidDestinationError(`${this.name}: ${JSON.stringify(key)} is not a plain relative key`, this.name)
    return this.#prefix + key
  }

  #fail (what: string, err: unknown): Error {
    return destinationError(classify(err), what, this.name, err, this.#secrets)
  }

  async * list (prefix: string, options: DestinationCallOptions = {}): AsyncGenerator<BackupObject> {
    let token: string | undefined
    do {
      let page
      try {
        page = await this.#client.send(new this.#sdk.ListObjectsV2Command({ Bucket: this.#bucket, Prefix: this.#prefix + prefix, ContinuationToken: token }), { abortSignal: options.signal })
      } catch (err) { throw this.#fail('listing', err) }
      for (const o of page.Contents ?? []) {
        if (o.Key == null || !o.Key.startsWith(this.#prefix)) continue
        yield { key: o.Key.slice(this.#prefix.length), bytes: o.Size ?? 0 }
      }
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined
    } while (token != null)
  }

  async write (key: string, body: AsyncIterable<Uint8Array>, options: DestinationCallOptions = {}): Promise<{ bytes: number }> {
    let bytes = 0
    async function * counted (): AsyncGenerator<Uint8Array> { for await (const c of body) { bytes += c.length; yield c } }
    const upload = new this.#storage.Upload({
      client: this.#client,
      params: { Bucket: this.#bucket, Key: this.#key(key), Body: Readable.from(counted()) },
      partSize: this.#partBytes,
      queueSize: this.#queueSize,
      leavePartsOnError: false
    })
    const onAbort = (): void => { void upload.abort().catch(() => {}) }
    options.signal?.addEventListener('abort', onAbort, { once: true })
    try {
      await upload.done()
    } catch (err) {
      options.signal?.throwIfAborted()
      throw this.#fail(`writing ${key}`, err)
    } finally {
      options.signal?.removeEventListener('abort', onAbort)
    }
    return { bytes }
  }

  async * read (key: string, options: DestinationCallOptions = {}): AsyncGenerator<Uint8Array> {
    let body: Readable
    try {
      const out = await this.#client.send(new this.#sdk.GetObjectCommand({ Bucket: this.#bucket, Key: this.#key(key) }), { abortSignal: options.signal })
      body = out.Body as Readable
    } catch (err) { throw this.#fail(`reading ${key}`, err) }
    try {
      for await (const chunk of body) yield chunk as Uint8Array
    } catch (err) {
      throw this.#fail(`reading ${key}`, err)
    } finally {
      body.destroy()
    }
  }

  async delete (keys: string[], options: DestinationCallOptions = {}): Promise<void> {
    // one DeleteObject per key: DeleteObjects needs a Content-MD5 or checksum header some S3-compatible services reject
    for (const key of keys) {
      try {
        await this.#client.send(new this.#sdk.DeleteObjectCommand({ Bucket: this.#bucket, Key: this.#key(key) }), { abortSignal: options.signal })
      } catch (err) { throw this.#fail(`deleting ${key}`, err) }
    }
  }

  async close (): Promise<void> { this.#client.destroy() }

  toJSON (): { name: string, kind: string } { return { name: this.name, kind: this.kind } }
}
