import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, type KeyObject } from 'node:crypto'
import { readFile, stat } from 'node:fs/promises'
import { inspect } from 'node:util'
import { equals } from 'uint8arrays/equals'
import type { Logger } from '../logger.ts'
import { PREFIX, concat } from '../storage/keys.ts'
import type { RootDb } from '../storage/level.ts'
import { InvalidQueryError } from '../storage/errors.ts'
import type { AbortOptions, WriteBatch } from '../storage/types.ts'
import { DEFAULT_MASTER_KEY_ENV, KIND_SLOT } from './constants.ts'
import { DataKeyUnavailableError, InvalidMasterKeyError, KeyDestroyedError, MissingMasterKeyError, TamperedCiphertextError, WrongMasterKeyError } from './errors.ts'
import { KEYSTORE_CHECK_KEY, keystoreKey } from './keys.ts'
import type { SlotKeys } from './types.ts'

const KEY_BYTES = 32
const IV_BYTES = 12
const TAG_BYTES = 16
const KEY_ID_BYTES = 8
const VERSION = 1
/** Header of a sealed or wrapped blob: version, key id, IV. */
const HEADER_BYTES = 1 + KEY_ID_BYTES + IV_BYTES
const utf8 = new TextEncoder()
const WRAP_CONTEXT = utf8.encode('chainstore/keystore/v1\0')
const SEAL_CONTEXT = utf8.encode('chainstore/seal/v1\0')
const CHECK_PLAINTEXT = utf8.encode('chainstore keystore check v1')
const KIND = /^[a-z][a-z0-9_.-]{0,63}$/

function gcmSeal (key: KeyObject, keyId: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  const iv = randomBytes(IV_BYTES)
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  cipher.setAAD(aad)
  const body = cipher.update(plaintext)
  const final = cipher.final()
  const out = new Uint8Array(HEADER_BYTES + body.length + final.length + TAG_BYTES)
  out[0] = VERSION
  out.set(keyId, 1)
  out.set(iv, 1 + KEY_ID_BYTES)
  out.set(body, HEADER_BYTES)
  out.set(final, HEADER_BYTES + body.length)
  out.set(cipher.getAuthTag(), out.length - TAG_BYTES)
  return out
}

/** The plaintext, or undefined when authentication fails. */
function gcmOpen (key: KeyObject, blob: Uint8Array, aad: Uint8Array): Uint8Array | undefined {
  const decipher = createDecipheriv('aes-256-gcm', key, blob.subarray(1 + KEY_ID_BYTES, HEADER_BYTES))
  decipher.setAAD(aad)
  decipher.setAuthTag(blob.subarray(blob.length - TAG_BYTES))
  try {
    const body = decipher.update(blob.subarray(HEADER_BYTES, blob.length - TAG_BYTES))
    return concat([body, decipher.final()])
  } catch {
    return undefined
  }
}

/** The key id a sealed or wrapped blob names, or undefined when the blob is too short or of another version. */
function keyIdOf (blob: Uint8Array): Uint8Array | undefined {
  if (blob.length < HEADER_BYTES + TAG_BYTES || blob[0] !== VERSION) return undefined
  return blob.subarray(1, 1 + KEY_ID_BYTES)
}


/**
 * The node master key: 32 bytes that wrap every data key. The bytes live in
 * a KeyObject inside a private field; the object prints and serialises as
 * "[redacted]", so it cannot reach a log line by accident.
 */
export class MasterKey {
  readonly #key: KeyObject

  private constructor (bytes: Uint8Array) {
    this.#key = createSecretKey(bytes)
  }

  /** A master key from 32 raw bytes. */
  static fromBytes (bytes: Uint8Array): MasterKey {
    if (!(bytes instanceof Uint8Array) || bytes.length !== KEY_BYTES) throw new InvalidMasterKeyError(`master key: expected ${KEY_BYTES} bytes, got ${bytes instanceof Uint8Array ? bytes.length : typeof bytes}`)
    return new MasterKey(bytes)
  }

  /** A master key written as 64 hex digits or as base64 (surrounding whitespace ignored). */
  static parse (text: string, source = 'master key'): MasterKey {
    const t = typeof text === 'string' ? text.trim() : ''
    // the message describes the input's shape only, never its characters
    if (/^[0-9a-fA-F]{64}$/.test(t)) return new MasterKey(Buffer.from(t, 'hex'))
    if (/^[A-Za-z0-9+/_-]{43}=?$/.test(t)) {
      const bytes = Buffer.from(t, t.includes('-') || t.includes('_') ? 'base64url' : 'base64')
      if (bytes.length === KEY_BYTES) return new MasterKey(bytes)
    }
    throw new InvalidMasterKeyError(`${source}: expected ${KEY_BYTES} bytes written as 64 hex digits or base64, got ${t.length} characters`)
  }

  /** A new random master key, as hex (for `chainstore` key generation and tests). */
  static generateHex (): string {
    return randomBytes(KEY_BYTES).toString('hex')
  }

  /** Wraps bytes under the master key (AES-256-GCM, `aad` bound). */
  wrap (plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
    return gcmSeal(this.#key, new Uint8Array(KEY_ID_BYTES), plaintext, aad)
  }

  /** Unwraps; undefined when the blob was not wrapped by this key with this `aad`. */
  unwrap (blob: Uint8Array, aad: Uint8Array): Uint8Array | undefined {
    if (keyIdOf(blob) == null) return undefined
    return gcmOpen(this.#key, blob, aad)
  }

  toString (): string { return 'MasterKey [redacted]' }
  toJSON (): string { return '[redacted]' }
  [inspect.custom] (): string { return 'MasterKey [redacted]' }
}

/** Where the master key comes from: a file, else an environment variable. */
export interface MasterKeySource {
  /** A file holding the key as hex or base64. */
  file?: string
  /** Environment variable holding the key (default CHAINSTORE_MASTER_KEY). */
  envName?: string
}

/**
 * Loads the master key from `source.file`, else from the environment
 * variable. A missing key is MissingMasterKeyError, a malformed one
 * InvalidMasterKeyError; neither message holds any of the key's characters.
 */
export async function loadMasterKey (source: MasterKeySource = {}, options: { env?: NodeJS.ProcessEnv, logger?: Logger } = {}): Promise<MasterKey> {
  if (source.file != null) {
    let text: string
    try {
      text = await readFile(source.file, 'utf8')
    } catch (err) {
      throw new MissingMasterKeyError(`master key file ${source.file} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err })
    }
    const mode = (await stat(source.file)).mode
    if ((mode & 0o077) !== 0) options.logger?.warn({ file: source.file, mode: (mode & 0o777).toString(8) }, 'master key file is readable by group or others; chmod 600 it')
    if (text.trim() === '') throw new MissingMasterKeyError(`master key file ${source.file} is empty`)
    return MasterKey.parse(text, `master key file ${source.file}`)
  }
  const name = source.envName ?? DEFAULT_MASTER_KEY_ENV
  const value = (options.env ?? process.env)[name]
  if (value == null || value.trim() === '') throw new MissingMasterKeyError(`no master key: set the ${name} environment variable or configure a master key file`)
  return MasterKey.parse(value, `environment variable ${name}`)
}

interface DataKey {
  id: Uint8Array
  key: KeyObject
}

/** What opening a keystore needs. */
export interface KeystoreInit {
  db: RootDb
  masterKey: MasterKey
  logger: Logger
  /** fsync key writes. */
  sync: boolean
}

/**
 * Data keys by slot (one per validator, one per record kind), each 32 random
 * bytes wrapped with AES-256-GCM under the master key and stored under
 * PREFIX.ATTEST_KEYS. Destroying a slot's key (crypto-shredding) makes every
 * blob sealed under it unreadable, wherever copies of the blob went.
 */
export class Keystore implements SlotKeys {
  readonly #db: RootDb
  #master: MasterKey
  readonly #sync: boolean
  readonly #log: Logger
  readonly #cache = new Map<string, DataKey>()
  #queue: Promise<unknown> = Promise.resolve()

  private constructor (init: KeystoreInit) {
    this.#db = init.db
    this.#master = init.masterKey
    this.#sync = init.sync
    this.#log = init.logger.child({ room: 'keystore' })
  }

  /**
   * Opens the keystore; the first open records a check value, later opens
   * verify it, so a wrong master key fails here (WrongMasterKeyError) and
   * never decrypts into garbage later.
   */
  static async open (init: KeystoreInit): Promise<Keystore> {
    const ks = new Keystore(init)
    const check = await init.db.get(KEYSTORE_CHECK_KEY)
    if (check == null) {
      await init.db.put(KEYSTORE_CHECK_KEY, init.masterKey.wrap(CHECK_PLAINTEXT, KEYSTORE_CHECK_KEY), { sync: init.sync } as any)
      ks.#log.info('keystore initialised under this master key')
    } else {
      const opened = init.masterKey.unwrap(check, KEYSTORE_CHECK_KEY)
      if (opened == null || !equals(opened, CHECK_PLAINTEXT)) throw new WrongMasterKeyError('the master key does not open this keystore (check value fails authentication): wrong key, or the keystore was initialised under another one')
    }
    return ks
  }

  /** True when the slot has a data key on this node. */
  hasKey (slot: string): boolean {
    return this.#cache.has(slot) || this.#db.getSync(keystoreKey(slot)) != null
  }

  /**
   * Seals bytes under a slot's data key, creating the key when the slot has
   * none: the new wrapped key goes into `batch`, written with what it seals.
   * Call `forget(slot)` if that batch then fails.
   */
  sealInBatch (batch: WriteBatch, slot: string, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
    let dk = this.#load(slot)
    if (dk == null) {
      dk = { id: randomBytes(KEY_ID_BYTES), key: createSecretKey(randomBytes(KEY_BYTES)) }
      batch.put(keystoreKey(slot), this.#wrap(slot, dk))
      this.#cache.set(slot, dk)
    }
    return gcmSeal(dk.key, dk.id, plaintext, sealAad(slot, aad))
  }

  /**
   * Opens a blob sealed under a slot: KeyDestroyedError when the slot has no
   * key, DataKeyUnavailableError when the blob names another key,
   * TamperedCiphertextError when authentication fails.
   */
  openSealed (slot: string, sealed: Uint8Array, aad: Uint8Array): Uint8Array {
    const id = keyIdOf(sealed)
    if (id == null) throw new TamperedCiphertextError('sealed blob: too short or of an unknown version')
    const dk = this.#load(slot)
    if (dk == null) throw new KeyDestroyedError(`no data key for ${slotLabel(slot)}: destroyed or never created`)
    if (!equals(id, dk.id)) throw new DataKeyUnavailableError(`blob sealed under a data key of ${slotLabel(slot)} this node does not hold`)
    const plain = gcmOpen(dk.key, sealed, sealAad(slot, aad))
    if (plain == null) throw new TamperedCiphertextError(`sealed blob of ${slotLabel(slot)} fails authentication: altered ciphertext`)
    return plain
  }

  /** Drops a slot from the memory cache (after a batch that created its key failed). */
  forget (slot: string): void {
    this.#cache.delete(slot)
  }

  /** Deletes a slot's wrapped key in a batch; run `compact(slot)` once the batch is written. */
  destroyInBatch (batch: WriteBatch, slot: string): boolean {
    const held = this.hasKey(slot)
    this.#cache.delete(slot)
    batch.del(keystoreKey(slot))
    return held
  }

  /** Compacts a slot's key range so the deleted wrapped key leaves LevelDB's log and table files. */
  async compact (slot: string): Promise<void> {
    const start = keystoreKey(slot)
    await this.#db.compactRange(start, concat([start, Uint8Array.of(0)]))
  }

  /** Seals bytes under the data key of a record kind (created on first use). */
  async seal (kind: string, plaintext: Uint8Array, options: AbortOptions & { aad?: Uint8Array } = {}): Promise<Uint8Array> {
    const slot = kindSlot(kind)
    return await this.#serial(options, async () => {
      const batch = this.#db.batch()
      const ops: WriteBatch = { put: (k, v) => { batch.put(k, v) }, del: (k) => { batch.del(k) }, putBlock: () => { throw new Error('keystore batches hold no blocks') } }
      const sealed = this.sealInBatch(ops, slot, plaintext, options.aad ?? new Uint8Array(0))
      if (batch.length > 0) {
        try { await batch.write({ sync: this.#sync } as any) } catch (err) { this.forget(slot); throw err }
      } else await batch.close()
      return sealed
    })
  }

  /** Opens bytes sealed by `seal(kind, ...)`. */
  async open (kind: string, sealed: Uint8Array, options: AbortOptions & { aad?: Uint8Array } = {}): Promise<Uint8Array> {
    options.signal?.throwIfAborted()
    return this.openSealed(kindSlot(kind), sealed, options.aad ?? new Uint8Array(0))
  }

  /** Destroys a record kind's data key: everything sealed under it becomes unreadable. */
  async destroy (kind: string, options: AbortOptions = {}): Promise<boolean> {
    const slot = kindSlot(kind)
    return await this.#serial(options, async () => {
      const held = this.hasKey(slot)
      this.#cache.delete(slot)
      await this.#db.del(keystoreKey(slot), { sync: this.#sync } as any)
      await this.compact(slot)
      this.#log.info({ kind, held }, 'data key destroyed')
      return held
    })
  }

  readonly #rotatedListeners = new Set<(keys: number) => void>()

  /** Calls `listener` after each master-key rotation with the number of data keys re-wrapped (the audit trail records it). */
  onRotated (listener: (keys: number) => void): () => void {
    this.#rotatedListeners.add(listener)
    return () => { this.#rotatedListeners.delete(listener) }
  }

  /**
   * Re-wraps every data key (and the check value) under a new master key in
   * one batch, then compacts the keystore range: copies of the data dir
   * taken before the rotation need the old master key, which the operator
   * can now destroy.
   */
  async rotateMasterKey (next: MasterKey, options: AbortOptions = {}): Promise<number> {
    return await this.#serial(options, async () => {
      const batch = this.#db.batch()
      let n = 0
      for await (const [key, value] of this.#db.iterator({ gt: KEYSTORE_CHECK_KEY, lt: Uint8Array.of(PREFIX.ATTEST_KEYS + 1) })) {
        const slot = new TextDecoder().decode(key.subarray(1))
        const dk = this.#unwrap(slot, value)
        batch.put(key, wrapWith(next, slot, dk))
        n++
      }
      batch.put(KEYSTORE_CHECK_KEY, next.wrap(CHECK_PLAINTEXT, KEYSTORE_CHECK_KEY))
      await batch.write({ sync: this.#sync } as any)
      this.#master = next
      await this.#db.compactRange(Uint8Array.of(PREFIX.ATTEST_KEYS), Uint8Array.of(PREFIX.ATTEST_KEYS + 1))
      this.#log.info({ keys: n }, 'data keys re-wrapped under a new master key')
      for (const l of this.#rotatedListeners) { try { l(n) } catch {} }
      return n
    })
  }

  #load (slot: string): DataKey | undefined {
    const cached = this.#cache.get(slot)
    if (cached != null) return cached
    const wrapped = this.#db.getSync(keystoreKey(slot))
    if (wrapped == null) return undefined
    const dk = this.#unwrap(slot, wrapped)
    this.#cache.set(slot, dk)
    return dk
  }

  #wrap (slot: string, dk: DataKey): Uint8Array {
    return wrapWith(this.#master, slot, dk)
  }

  #unwrap (slot: string, wrapped: Uint8Array): DataKey {
    const raw = this.#master.unwrap(wrapped, wrapAad(slot))
    if (raw == null || raw.length !== KEY_ID_BYTES + KEY_BYTES) throw new WrongMasterKeyError(`the data key of ${slotLabel(slot)} fails authentication under this master key: wrong master key or a corrupted keystore entry`)
    return { id: raw.slice(0, KEY_ID_BYTES), key: createSecretKey(raw.subarray(KEY_ID_BYTES)) }
  }

  async #serial<T> (options: AbortOptions, fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(async () => {
      options.signal?.throwIfAborted()
      return await fn()
    })
    this.#queue = run.catch(() => {})
    return await run
  }
}

function wrapWith (master: MasterKey, slot: string, dk: DataKey): Uint8Array {
  const raw = concat([dk.id, dk.key.export()])
  return master.wrap(raw, wrapAad(slot))
}

function wrapAad (slot: string): Uint8Array {
  // the slot is bound in: a wrapped key moved to another slot fails authentication
  return concat([WRAP_CONTEXT, utf8.encode(slot)])
}

function sealAad (slot: string, aad: Uint8Array): Uint8Array {
  return concat([SEAL_CONTEXT, utf8.encode(slot), Uint8Array.of(0), aad])
}

function kindSlot (kind: string): string {
  if (typeof kind !== 'string' || !KIND.test(kind)) throw new InvalidQueryError(`kind: expected 1-64 characters of [a-z0-9_.-] starting with a letter, got ${typeof kind === 'string' ? `${kind.length} characters` : typeof kind}`)
  return KIND_SLOT + kind
}

function slotLabel (slot: string): string {
  return slot.replace('/', ' ')
}
