import { Readable } from 'node:stream'
import type { ContainerClient } from '@azure/storage-blob'
import { DEFAULT_PART_BYTES, DEFAULT_UPLOAD_QUEUE, DESTINATION_MAX_ATTEMPTS, DESTINATION_RETRY_DELAY_MS } from '../constants.ts'
import { InvalidDestinationError } from '../errors.ts'
import type { BackupDestination, BackupObject, DestinationCallOptions, DestinationSpec } from '../types.ts'
import { checkKey, destinationError, isNetworkError, loadOptional, type FailureKind } from './common.ts'

/** Which typed error an Azure SDK error (RestError) becomes. */
function classify (err: unknown): FailureKind {
  const e = err as { statusCode?: number, code?: string }
  if (e?.statusCode === 401 || e?.statusCode === 403 || ['AuthenticationFailed', 'AuthorizationFailure', 'InvalidAuthenticationInfo'].includes(e?.code ?? '')) return 'auth'
  if (e?.code === 'ContainerNotFound') return 'no-container'
  if (e?.code === 'BlobNotFound' || e?.statusCode === 404) return 'no-object'
  if (isNetworkError(err) || e?.statusCode == null || e.statusCode >= 500) return 'unavailable'
  return 'other'
}

/**
 * An Azure Blob Storage container through @azure/storage-blob (loaded on
 * first use). Objects are block blobs written with `uploadStream`: blocks
 * of `partBytes`, `queueSize` in flight, committed by one block list at the
 * end, so a blob appears whole or not at all. Credentials: a connection
 * string, an account name and key, or a SAS token, each from an
 * environment variable (AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_ACCOUNT
 * + AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN by default).
 */
export class AzureDestination implements BackupDestination {
  readonly kind = 'azure' as const
  readonly name: string
  readonly #prefix: string
  readonly #container: ContainerClient
  readonly #secrets: string[]
  readonly #partBytes: number
  readonly #queueSize: number

  private constructor (name: string, prefix: string, container: ContainerClient, secrets: string[], spec: DestinationSpec) {
    this.name = name
    this.#prefix = prefix
    this.#container = container
    this.#secrets = secrets
    this.#partBytes = spec.partBytes ?? DEFAULT_PART_BYTES
    this.#queueSize = spec.queueSize ?? DEFAULT_UPLOAD_QUEUE
  }

  static async open (name: string, container: string, prefix: string, spec: DestinationSpec, env: NodeJS.ProcessEnv = process.env): Promise<AzureDestination> {
    const sdk = await loadOptional(async () => await import('@azure/storage-blob'), '@azure/storage-blob', name)
    const options = { retryOptions: { maxTries: DESTINATION_MAX_ATTEMPTS, retryDelayInMs: DESTINATION_RETRY_DELAY_MS, maxRetryDelayInMs: DESTINATION_RETRY_DELAY_MS * 10 } }
    const connectionString = env[spec.connectionStringEnv ?? 'AZURE_STORAGE_CONNECTION_STRING']
    const account = spec.accountName ?? env.AZURE_STORAGE_ACCOUNT
    const key = env[spec.accountKeyEnv ?? 'AZURE_STORAGE_KEY']
    const sas = env[spec.sasTokenEnv ?? 'AZURE_STORAGE_SAS_TOKEN']
    const secrets = [connectionString, key, sas].filter((x): x is string => x != null && x !== '')
    const accountUrl = spec.accountUrl ?? (account != null ? `https://${account}.blob.core.windows.net` : undefined)
    let service
    if (connectionString != null && connectionString !== '' && spec.accountKeyEnv == null && spec.sasTokenEnv == null) {
      try {
        service = sdk.BlobServiceClient.fromConnectionString(connectionString, options)
      } catch {
        throw new InvalidDestinationError(`${name}: the connection string in ${spec.connectionStringEnv ?? 'AZURE_STORAGE_CONNECTION_STRING'} does not parse`, name)
      }
    } else if (accountUrl != null && key != null && key !== '') {
      if (account == null) throw new InvalidDestinationError(`${name}: an account key needs the account name (accountName or AZURE_STORAGE_ACCOUNT)`, name)
      service = new sdk.BlobServiceClient(accountUrl, new sdk.StorageSharedKeyCredential(account, key), options)
    } else if (accountUrl != null && sas != null && sas !== '') {
      service = new sdk.BlobServiceClient(`${accountUrl}?${sas.replace(/^\?/, '')}`, undefined, options)
    } else {
      throw new InvalidDestinationError(`${name}: no Azure credentials: set ${spec.connectionStringEnv ?? 'AZURE_STORAGE_CONNECTION_STRING'}, or an account (accountName / AZURE_STORAGE_ACCOUNT) with ${spec.accountKeyEnv ?? 'AZURE_STORAGE_KEY'} or ${spec.sasTokenEnv ?? 'AZURE_STORAGE_SAS_TOKEN'}`, name)
    }
    return new AzureDestination(name, prefix, service.getContainerClient(container), secrets, spec)
  }

  #key (key: string): string {
    if (!checkKey(key)) throw new InvalidDestinationError(`${this.name}: ${JSON.stringify(key)} is not a plain relative key`, this.name)
    return this.#prefix + key
  }

  #fail (what: string, err: unknown): Error {
    return destinationError(classify(err), what, this.name, err, this.#secrets)
  }

  async * list (prefix: string, options: DestinationCallOptions = {}): AsyncGenerator<BackupObject> {
    const it = this.#container.listBlobsFlat({ prefix: this.#prefix + prefix, abortSignal: options.signal })[Symbol.asyncIterator]()
    while (true) {
      let next
      try { next = await it.next() } catch (err) { throw this.#fail('listing', err) }
      if (next.done === true) return
      const b = next.value
      if (b.name.startsWith(this.#prefix)) yield { key: b.name.slice(this.#prefix.length), bytes: b.properties.contentLength ?? 0 }
    }
  }

  async write (key: string, body: AsyncIterable<Uint8Array>, options: DestinationCallOptions = {}): Promise<{ bytes: number }> {
    let bytes = 0
    // uploadStream copies chunks with Buffer#copy: a plain Uint8Array chunk throws (uncaught, in the SDK's stream handler)
    async function * counted (): AsyncGenerator<Buffer> { for await (const c of body) { bytes += c.length; yield Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength) } }
    const blob = this.#container.getBlockBlobClient(this.#key(key))
    try {
      await blob.uploadStream(Readable.from(counted()), this.#partBytes, this.#queueSize, { abortSignal: options.signal })
    } catch (err) {
      options.signal?.throwIfAborted()
      throw this.#fail(`writing ${key}`, err)
    }
    return { bytes }
  }

  async * read (key: string, options: DestinationCallOptions = {}): AsyncGenerator<Uint8Array> {
    let body: NodeJS.ReadableStream
    try {
      const out = await this.#container.getBlobClient(this.#key(key)).download(0, undefined, { abortSignal: options.signal })
      body = out.readableStreamBody!
    } catch (err) { throw this.#fail(`reading ${key}`, err) }
    try {
      for await (const chunk of body) yield chunk as Uint8Array
    } catch (err) {
      throw this.#fail(`reading ${key}`, err)
    } finally {
      (body as Readable).destroy?.()
    }
  }

  async delete (keys: string[], options: DestinationCallOptions = {}): Promise<void> {
    for (const key of keys) {
      try {
        await this.#container.getBlobClient(this.#key(key)).deleteIfExists({ abortSignal: options.signal })
      } catch (err) { throw this.#fail(`deleting ${key}`, err) }
    }
  }

  async close (): Promise<void> {}

  toJSON (): { name: string, kind: string } { return { name: this.name, kind: this.kind } }
}
