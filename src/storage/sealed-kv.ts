import type { KvBatchOp, KvRange, KvStore, KvView } from './kv.ts'

/** What a sealed namespace needs of the keystore (src/attestations/keystore.ts fits). */
export interface Sealer {
  seal: (kind: string, plaintext: Uint8Array, options?: { aad?: Uint8Array }) => Promise<Uint8Array>
  open: (kind: string, sealed: Uint8Array, options?: { aad?: Uint8Array }) => Promise<Uint8Array>
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/**
 * A kv namespace encrypted at rest (config `attestations.encryptKinds` names
 * it): each value is JSON sealed with AES-256-GCM under the keystore's data
 * key for the kind `kv.<namespace>`, with the entry's key as additional
 * data, so a value moved to another key or altered fails to open
 * (TamperedCiphertextError) and a wrong master key fails at open, never
 * yielding garbage. Keys stay clear (they order the range reads): name
 * entries with nothing personal.
 */
export function sealedKv<V> (inner: KvStore<string>, sealer: Sealer, options: { assertOpen?: () => void } = {}): KvStore<V> {
  // sealing reads the keystore: a stopped store must refuse before that, as a plain namespace does
  const assertOpen = options.assertOpen ?? (() => {})
  const kind = `kv.${inner.namespace}`
  const seal = async (key: string, value: V): Promise<string> => Buffer.from(await sealer.seal(kind, encoder.encode(JSON.stringify(value)), { aad: encoder.encode(key) })).toString('base64')
  const open = async (key: string, stored: string | undefined): Promise<V | undefined> => {
    if (stored == null) return undefined
    return JSON.parse(decoder.decode(await sealer.open(kind, Buffer.from(stored, 'base64'), { aad: encoder.encode(key) }))) as V
  }
  async function * openAll (entries: AsyncGenerator<[string, string]>): AsyncGenerator<[string, V]> {
    for await (const [k, v] of entries) yield [k, (await open(k, v))!]
  }
  const view = (v: KvView<string>): KvView<V> => ({
    get: async key => await open(key, await v.get(key)),
    getMany: async keys => await Promise.all((await v.getMany(keys)).map(async (s, i) => await open(keys[i], s))),
    iterate: (range?: KvRange) => openAll(v.iterate(range)),
    close: async () => { await v.close() }
  })
  return {
    namespace: inner.namespace,
    get: async key => await open(key, await inner.get(key)),
    getMany: async keys => await Promise.all((await inner.getMany(keys)).map(async (s, i) => await open(keys[i], s))),
    put: async (key, value) => { assertOpen(); await inner.put(key, await seal(key, value)) },
    del: async key => { await inner.del(key) },
    batch: async (ops: Array<KvBatchOp<V>>) => {
      assertOpen()
      await inner.batch(await Promise.all(ops.map(async op => op.type === 'put' ? { type: 'put' as const, key: op.key, value: await seal(op.key, op.value) } : op)))
    },
    iterate: (range?: KvRange) => openAll(inner.iterate(range)),
    snapshot: () => view(inner.snapshot())
  }
}
