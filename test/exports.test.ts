import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import * as api from '../src/index.ts'
import * as attestationErrors from '../src/attestations/errors.ts'
import * as chainErrors from '../src/chain/errors.ts'
import * as codecErrors from '../src/codec/errors.ts'
import * as configErrors from '../src/config/errors.ts'
import * as fileErrors from '../src/files/errors.ts'
import * as indexErrors from '../src/indexes/errors.ts'
import * as migrationErrors from '../src/migrations/errors.ts'
import * as pinningErrors from '../src/pinning/errors.ts'
import * as replicationErrors from '../src/replication/errors.ts'
import * as stateErrors from '../src/state/errors.ts'
import * as storageErrors from '../src/storage/errors.ts'

/** Rooms whose errors reach callers of the public API. */
const rooms = { attestationErrors, chainErrors, codecErrors, configErrors, fileErrors, indexErrors, migrationErrors, pinningErrors, replicationErrors, stateErrors, storageErrors }

describe('public errors', () => {
  it('src/index.ts exports every error class of the rooms behind the public API', () => {
    const exported = api as Record<string, unknown>
    for (const [room, errors] of Object.entries(rooms)) {
      for (const [name, value] of Object.entries(errors)) {
        if (typeof value !== 'function') continue
        expect(exported[name], `${room}: ${name}`).toBe(value)
        expect(value.prototype, name).toBeInstanceOf(api.ChainStoreError)
      }
    }
  })

  it('exports the errors thrown by pin and gc, and the ones defined outside errors.ts', () => {
    for (const name of ['PinFailedError', 'GcUnsafeError', 'InvalidPinPolicyError', 'GatewayFetchError', 'InvalidNamespaceError', 'InvalidValidatorStateError', 'MissingBlockError']) {
      const Err = (api as Record<string, unknown>)[name] as (new (message: string, options?: { cause?: unknown }) => Error) | undefined
      expect(Err, name).toBeTypeOf('function')
    }
    const cause = new Error('underneath')
    const err = new api.PinFailedError('pin failed', { cause })
    expect(err.name).toBe('PinFailedError')
    expect(err.cause).toBe(cause)
    expect(new api.GcUnsafeError('unsafe').name).toBe('GcUnsafeError')
  })

  it('exports the state helpers docs/DATA-MODEL.md shows (verifyProof, account codecs)', () => {
    for (const name of ['verifyProof', 'encodeAccount', 'decodeAccount', 'emptyAccount', 'isStateNodeCid']) {
      expect((api as Record<string, unknown>)[name], name).toBeTypeOf('function')
    }
  })

  it('the seed ids the root exports (no libp2p loaded) equal the keys libp2p derives from the same seeds', async () => {
    const { privateKeyFromRaw, generateKeyPairFromSeed } = await import('@libp2p/crypto/keys')
    const { peerIdFromPrivateKey } = await import('@libp2p/peer-id')
    const { seedBytes } = await import('../src/replication/seed-ids.ts')
    for (const seed of ['peer-1', 'peer-2', 'validator-7']) {
      expect(api.identityIdFromSeed(seed)).toBe(Buffer.from(privateKeyFromRaw(seedBytes(seed, 'orbitdb')).publicKey.raw).toString('hex'))
      expect(await api.peerIdFromSeed(seed)).toBe(peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', seedBytes(seed, 'libp2p'))).toString())
    }
  })

  it('every subpath package.json exports is built from a src module, and the optional rooms export what their docs show', async () => {
    const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { exports: Record<string, string | { types: string, import: string }> }
    const wanted: Record<string, string[]> = {
      './backup': ['createBackup', 'listBackups', 'verifyBackup', 'restoreBackup', 'BackupNotFoundError', 'BackupCorruptError'],
      './integrity': ['verifyStore', 'checkStore', 'repairStore'],
      './attestations': ['AttestationStore', 'loadMasterKey', 'commitSample', 'verifyCommitment'],
      './orbitdb-access': ['ChainstoreFollowerAccessController', 'followerAccessController', 'chainstoreAddresses', 'ACCESS_CONTROLLER_TYPE', 'AccessManifestError', 'FollowerCannotCreateError']
    }
    for (const [path, target] of Object.entries(pkg.exports)) {
      if (typeof target === 'string') continue
      const src = target.import.replace('./dist/', '../src/').replace(/\.js$/, '.ts')
      const mod = await import(src) as Record<string, unknown>
      for (const name of wanted[path] ?? []) expect(mod[name], `${path}: ${name}`).toBeDefined()
      expect(target.types).toBe(target.import.replace(/\.js$/, '.d.ts'))
    }
    for (const path of Object.keys(wanted)) expect(pkg.exports[path], path).toBeDefined()
  })
})
