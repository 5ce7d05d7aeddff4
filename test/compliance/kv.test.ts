/** The kv compliance suite against both implementations: plain JSON namespaces and namespaces sealed under the keystore. */
import { randomBytes } from 'node:crypto'
import { KV_SUITE_NAMESPACES, kvStoreTests } from './kv.ts'

kvStoreTests('plain namespaces', () => ({ config: {} }))

const keyEnv = 'CHAINSTORE_MASTER_KEY_KV_SUITE'
process.env[keyEnv] = randomBytes(32).toString('hex')
kvStoreTests('sealed namespaces (attestations.encryptKinds)', () => ({
  config: { attestations: { enabled: true, masterKeyEnv: keyEnv, encryptKinds: KV_SUITE_NAMESPACES.map(n => `kv.${n}`) } }
}))
