import { cp, readdir, readFile, writeFile, chmod } from 'node:fs/promises'
import { inspect } from 'node:util'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import {
  AttestationStore, BUCKET_MS, DAY_MS, Keystore, MasterKey, attestationsConfigSchema, commitSample, isBackupExcluded, loadMasterKey, startAttestations,
  type AttestationInput, type Resolution
} from '../src/attestations/index.ts'
import { decodeRecord, encodeRecord } from '../src/attestations/codec.ts'
import { keystoreKey, recordKey } from '../src/attestations/keys.ts'
import { readPin } from '../src/pinning/records.ts'
import { blockKey } from '../src/storage/keys.ts'
import { LEVEL_DIR, openLevel, type BlocksDb, type RootDb } from '../src/storage/level.ts'
import type { Logger } from '../src/logger.ts'
import { quietLogger, tempDir } from './helpers/store.ts'

const T0 = Date.UTC(2026, 0, 5)
const RETENTION = { scoresMs: 90 * DAY_MS, commitmentsMs: 30 * DAY_MS, payloadMs: 30 * DAY_MS }
const TUNING = { writeBufferSize: 4 * 1024 * 1024, cacheSize: 8 * 1024 * 1024 }
const SECRET = new Uint8Array(32).fill(3)

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c() })

async function dir (): Promise<string> {
  const t = await tempDir('chainstore-attest-priv-')
  cleanups.push(t.cleanup)
  return t.dir
}

interface Node {
  db: RootDb
  blocks: BlocksDb
  keystore: Keystore
  store: AttestationStore
  close: () => Promise<void>
}

const clock = { now: T0 }

async function openNode (dataDir: string, master: string, logger: Logger = quietLogger): Promise<Node> {
  const { db, blocks } = await openLevel(dataDir, TUNING)
  let keystore: Keystore
  try {
    keystore = await Keystore.open({ db, masterKey: MasterKey.parse(master), logger, sync: false })
  } catch (err) {
    await db.close()
    throw err
  }
  const store = await AttestationStore.open({ db, blocks, keystore, logger, sync: false, retention: RETENTION, now: () => clock.now, maxClockSkewMs: 1e15 })
  let closed = false
  const close = async (): Promise<void> => {
    if (closed) return
    closed = true
    await store.close()
    await db.close()
  }
  cleanups.push(close)
  return { db, blocks, keystore, store, close }
}

function attestation (validator: string, height: number, timestamp: number, score: number, extra: Partial<AttestationInput> = {}): AttestationInput {
  return { validator, height, timestamp, score, commitment: commitSample(Uint8Array.of(1, 2, 3), SECRET), ...extra }
}

/** Every byte of every file LevelDB keeps in a directory. */
async function levelFiles (location: string): Promise<Buffer[]> {
  return await Promise.all((await readdir(location)).map(async f => await readFile(join(location, f))))
}

describe('master key and keystore', () => {
  it('parses hex and base64, refuses anything else without echoing it, and never prints the key', async () => {
    const hex = MasterKey.generateHex()
    const b64 = Buffer.from(hex, 'hex').toString('base64')
    expect(MasterKey.parse(` ${hex}\n`)).toBeInstanceOf(MasterKey)
    expect(MasterKey.parse(b64)).toBeInstanceOf(MasterKey)
    const bad = 'zz' + hex.slice(2)
    const err = (() => { try { MasterKey.parse(bad) } catch (e) { return e as Error } })()!
    expect(err.name).toBe('InvalidMasterKeyError')
    expect(err.message).not.toContain(bad.slice(2, 20))
    expect(() => MasterKey.parse(hex.slice(0, 62))).toThrow(expect.objectContaining({ name: 'InvalidMasterKeyError' }))
    const key = MasterKey.parse(hex)
    expect(inspect(key)).not.toContain(hex.slice(0, 16))
    expect(JSON.stringify({ key })).toBe('{"key":"[redacted]"}')
    expect(String(key)).not.toContain(hex.slice(0, 16))
  })

  it('loads from a file or an environment variable; a missing one is MissingMasterKeyError', async () => {
    const d = await dir()
    const hex = MasterKey.generateHex()
    const file = join(d, 'master.key')
    await writeFile(file, hex + '\n')
    await chmod(file, 0o600)
    expect(await loadMasterKey({ file })).toBeInstanceOf(MasterKey)
    expect(await loadMasterKey({ envName: 'TEST_MK' }, { env: { TEST_MK: hex } })).toBeInstanceOf(MasterKey)
    await expect(loadMasterKey({ envName: 'TEST_MK' }, { env: {} })).rejects.toHaveProperty('name', 'MissingMasterKeyError')
    await expect(loadMasterKey({ file: join(d, 'absent') })).rejects.toHaveProperty('name', 'MissingMasterKeyError')
    await writeFile(join(d, 'empty'), '\n')
    await expect(loadMasterKey({ file: join(d, 'empty') })).rejects.toHaveProperty('name', 'MissingMasterKeyError')
    await expect(loadMasterKey({ envName: 'TEST_MK' }, { env: { TEST_MK: 'not-a-key' } })).rejects.toHaveProperty('name', 'InvalidMasterKeyError')
  })

  it('a wrong master key fails at open with WrongMasterKeyError, before anything decrypts into garbage; the right one reopens', async () => {
    const location = join(await dir(), 'data')
    const master = MasterKey.generateHex()
    const first = await openNode(location, master)
    await first.store.ingest([attestation('val-1', 1, T0, 0.5, { payload: { note: 'private' } })])
    await first.close()
    await expect(openNode(location, MasterKey.generateHex())).rejects.toHaveProperty('name', 'WrongMasterKeyError')
    // through the config entry point too, and with no key at all
    const { db, blocks } = await openLevel(location, TUNING)
    const config = attestationsConfigSchema.parse({ enabled: true, masterKeyEnv: 'TEST_MK' })
    expect(config.retention).toEqual({ scoresDays: 90, commitmentsDays: 30, payloadDays: 30 })
    await expect(startAttestations(config, { db, blocks, logger: quietLogger, sync: false, env: { TEST_MK: MasterKey.generateHex() } })).rejects.toHaveProperty('name', 'WrongMasterKeyError')
    await expect(startAttestations(config, { db, blocks, logger: quietLogger, sync: false, env: {} })).rejects.toHaveProperty('name', 'MissingMasterKeyError')
    const room = await startAttestations(config, { db, blocks, logger: quietLogger, sync: false, env: { TEST_MK: master }, now: () => clock.now })
    expect(await room.attestations.getPayload('val-1', 1)).toEqual({ note: 'private' })
    await room.stop()
    await db.close()
  })

  it('seals other record kinds by name; tampering, a wrong aad and a destroyed kind key are typed errors', async () => {
    const node = await openNode(join(await dir(), 'data'), MasterKey.generateHex())
    const plain = new TextEncoder().encode('peer contact book')
    const sealed = await node.keystore.seal('peer-notes', plain, { aad: Uint8Array.of(1) })
    expect(Buffer.from(sealed).includes(Buffer.from(plain))).toBe(false)
    expect(await node.keystore.open('peer-notes', sealed, { aad: Uint8Array.of(1) })).toEqual(plain)
    await expect(node.keystore.open('peer-notes', sealed, { aad: Uint8Array.of(2) })).rejects.toHaveProperty('name', 'TamperedCiphertextError')
    for (const at of [25, sealed.length - 1, sealed.length - 20]) {
      const bad = Uint8Array.from(sealed)
      bad[at] ^= 0x01
      await expect(node.keystore.open('peer-notes', bad, { aad: Uint8Array.of(1) })).rejects.toHaveProperty('name', 'TamperedCiphertextError')
    }
    // another kind's key does not open it
    await node.keystore.seal('other', plain)
    await expect(node.keystore.open('other', sealed, { aad: Uint8Array.of(1) })).rejects.toHaveProperty('name', 'DataKeyUnavailableError')
    expect(await node.keystore.destroy('peer-notes')).toBe(true)
    await expect(node.keystore.open('peer-notes', sealed, { aad: Uint8Array.of(1) })).rejects.toHaveProperty('name', 'KeyDestroyedError')
    await expect(node.keystore.seal('Bad Kind', plain)).rejects.toHaveProperty('name', 'InvalidQueryError')
  })

  it('a wrapped key moved to another slot fails authentication (WrongMasterKeyError), never opens', async () => {
    const location = join(await dir(), 'data')
    const node = await openWithMaster(location)
    await node.store.ingest([attestation('val-1', 1, T0, 0.5, { payload: Uint8Array.of(1) }), attestation('val-2', 1, T0, 0.5, { payload: Uint8Array.of(2) })])
    const k1 = node.db.getSync(keystoreKey('validator/val-1'))!
    await node.db.put(keystoreKey('validator/val-2'), k1)
    await node.close()
    const again = await openWithMaster(location, masters.get(node))
    await expect(again.store.getPayload('val-2', 1)).rejects.toHaveProperty('name', 'WrongMasterKeyError')
    expect(await again.store.getPayload('val-1', 1)).toEqual(Uint8Array.of(1))
  })
})

const masters = new WeakMap<Node, string>()
async function openWithMaster (dataDir: string, master = MasterKey.generateHex(), logger?: Logger): Promise<Node> {
  const node = await openNode(dataDir, master, logger)
  masters.set(node, master)
  return node
}

describe('tampered ciphertext', () => {
  it('an altered payload block, or ciphertext moved to another record, is TamperedCiphertextError', async () => {
    const node = await openWithMaster(join(await dir(), 'data'))
    await node.store.ingest([attestation('val-1', 1, T0, 0.5, { payload: { a: 1 } }), attestation('val-1', 2, T0 + 1, 0.5, { payload: { a: 2 } })])
    const [r1, r2] = await node.store.range('val-1')
    const key = blockKey(r1.payload!)
    const bytes = Uint8Array.from((await node.blocks.get(key))!)
    bytes[30] ^= 0x80
    await node.blocks.put(key, bytes)
    await expect(node.store.getPayload('val-1', 1)).rejects.toHaveProperty('name', 'TamperedCiphertextError')
    // record 1 now points at record 2's (intact) ciphertext: the seal binds validator and height
    const rk = recordKey('val-1', T0, 1)
    const value = decodeRecord(node.db.getSync(rk)!)
    await node.db.put(rk, encodeRecord({ ...value, payload: r2.payload }))
    await expect(node.store.getPayload('val-1', 1)).rejects.toHaveProperty('name', 'TamperedCiphertextError')
    expect(await node.store.getPayload('val-1', 2)).toEqual({ a: 2 })
  })
})

describe('erasure by crypto-shredding', () => {
  it('destroys the data key: payload unreadable, wrapped key bytes gone from every LevelDB file after compaction', async () => {
    const location = join(await dir(), 'data')
    const node = await openWithMaster(location)
    await node.store.ingest(Array.from({ length: 50 }, (_, i) => attestation('val-1', i, T0 + i * 1000, 0.5, { payload: { reading: i } })))
    await node.store.ingest([attestation('val-2', 1, T0, 0.4, { payload: Uint8Array.of(7) })])
    const wrapped = Buffer.from(node.db.getSync(keystoreKey('validator/val-1'))!)
    const before = await levelFiles(join(location, LEVEL_DIR))
    expect(before.some(f => f.includes(wrapped))).toBe(true)
    const payloadCid = (await node.store.range('val-1', { limit: 1 }))[0].payload!

    const result = await node.store.erase('val-1')
    expect(result).toMatchObject({ records: 50, payloads: 50, keyDestroyed: true })
    await expect(node.store.getPayload('val-1', 3)).rejects.toHaveProperty('name', 'ErasedError')
    await expect(node.store.get('val-1', 3)).rejects.toHaveProperty('name', 'ErasedError')
    expect(await node.store.range('val-1')).toEqual([])
    expect(readPin(node.db, payloadCid)).toBeUndefined()
    expect(await node.blocks.get(blockKey(payloadCid))).toBeUndefined()
    expect(node.db.getSync(keystoreKey('validator/val-1'))).toBeUndefined()
    const after = await levelFiles(join(location, LEVEL_DIR))
    expect(after.some(f => f.includes(wrapped))).toBe(false)
    // the other validator is untouched, and its key still opens
    expect(await node.store.getPayload('val-2', 1)).toEqual(Uint8Array.of(7))
    // the validator may attest again later, under a fresh key
    clock.now = result.erasedAt + 10
    await node.store.ingest([attestation('val-1', 100, result.erasedAt + 5, 0.6, { payload: Uint8Array.of(1) }), attestation('val-1', 3, result.erasedAt - 5, 0.6)])
    expect((await node.store.range('val-1')).map(r => r.height)).toEqual([100])
    expect(await node.store.getPayload('val-1', 100)).toEqual(Uint8Array.of(1))
    clock.now = T0
  })

  it('an erasure interrupted after the key was destroyed finishes when the store reopens', async () => {
    const location = join(await dir(), 'data')
    const node = await openWithMaster(location)
    await node.store.ingest([attestation('val-1', 1, T0, 0.5, { payload: Uint8Array.of(1) }), attestation('val-1', 2, T0 + 1, 0.7)])
    // what the first batch of erase() writes: key gone, erasure record; the crash comes before the records go
    const { erasureKey } = await import('../src/attestations/keys.ts')
    const at = new Uint8Array(8)
    new DataView(at.buffer).setBigUint64(0, BigInt(T0 + 10))
    await node.db.batch([{ type: 'del', key: keystoreKey('validator/val-1') }, { type: 'put', key: erasureKey('val-1'), value: at }])
    await node.close()
    const again = await openWithMaster(location, masters.get(node))
    expect(await again.store.range('val-1')).toEqual([])
    expect(await again.store.summary({ resolution: 'day', from: T0, to: T0 + DAY_MS })).toBeUndefined()
    await expect(again.store.getPayload('val-1', 1)).rejects.toHaveProperty('name', 'ErasedError')
  })

  it('a logical backup taken before erasure (keystore left out) restored into a fresh node cannot yield the payload', async () => {
    const root = await dir()
    const node = await openWithMaster(join(root, 'a'))
    await node.store.ingest([attestation('val-1', 1, T0, 0.5, { payload: { note: 'n' } })])
    // the backup seam: every root key except those isBackupExcluded (the wrapped data keys)
    const backup: Array<[Uint8Array, Uint8Array]> = []
    for await (const [k, v] of node.db.iterator()) if (!isBackupExcluded(k)) backup.push([k, v])
    expect(backup.some(([k]) => k[0] === 0x1c)).toBe(false)
    const erasure = await node.store.erase('val-1')
    const fresh = await openWithMaster(join(root, 'b'))
    await fresh.db.batch(backup.map(([key, value]) => ({ type: 'put' as const, key, value })))
    await fresh.close()
    const restored = await openWithMaster(join(root, 'b'), masters.get(fresh))
    // the ciphertext came back, the key did not
    await expect(restored.store.getPayload('val-1', 1)).rejects.toHaveProperty('name', 'DataKeyUnavailableError')
    await restored.store.applyErasure({ validator: erasure.validator, erasedAt: erasure.erasedAt })
    await expect(restored.store.getPayload('val-1', 1)).rejects.toHaveProperty('name', 'ErasedError')
  })

  it('a file copy of the data dir taken before erasure needs the old master key; rotating it after erasure retires the copy', async () => {
    const root = await dir()
    const master = MasterKey.generateHex()
    let node = await openWithMaster(join(root, 'live'), master)
    await node.store.ingest([attestation('val-1', 1, T0, 0.5, { payload: Uint8Array.of(42) })])
    await node.close()
    await cp(join(root, 'live'), join(root, 'copy'), { recursive: true })
    node = await openWithMaster(join(root, 'live'), master)
    await node.store.erase('val-1')
    const next = MasterKey.generateHex()
    expect(await node.keystore.rotateMasterKey(MasterKey.parse(next))).toBeGreaterThanOrEqual(0)
    await node.close()
    // the live node opens under the new key only
    await expect(openWithMaster(join(root, 'live'), master)).rejects.toHaveProperty('name', 'WrongMasterKeyError')
    const live = await openWithMaster(join(root, 'live'), next)
    await expect(live.store.getPayload('val-1', 1)).rejects.toHaveProperty('name', 'ErasedError')
    // the old copy does not open under the current key; with the old key destroyed it is ciphertext only.
    await expect(openWithMaster(join(root, 'copy'), next)).rejects.toHaveProperty('name', 'WrongMasterKeyError')
    // the limit, stated in docs/PRIVACY.md: whoever still holds the old master key AND the old copy can read it
    const old = await openWithMaster(join(root, 'copy'), master)
    expect(await old.store.getPayload('val-1', 1)).toEqual(Uint8Array.of(42))
  })
})

describe('retention sweeps', () => {
  function rng (seed: number): () => number {
    let s = seed >>> 0
    return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32 }
  }

  it('expire scores, commitments and payloads per field at a controlled clock; rollups match the records that stay', async () => {
    const lines: any[] = []
    const sink = new Writable({ write (chunk, _enc, cb) { lines.push(JSON.parse(String(chunk))); cb() } })
    const master = MasterKey.generateHex()
    const node = await openWithMaster(join(await dir(), 'data'), master, pino({ level: 'info' }, sink))
    const random = rng(11)
    const validators = ['val-a', 'val-b', 'val-c']
    const points: Array<{ validator: string, height: number, timestamp: number, score: number }> = []
    clock.now = T0 + 100 * DAY_MS
    // 100 days, every 3 hours (jittered), payload on every 4th
    const batch: AttestationInput[] = []
    for (let h = 0; h < 800; h++) {
      for (const v of validators) {
        const timestamp = T0 + h * 3 * 3_600_000 + Math.floor(random() * 3_600_000)
        const score = Math.round(random() * 1000) / 1000
        points.push({ validator: v, height: h, timestamp, score })
        batch.push(attestation(v, h, timestamp, score, h % 4 === 0 ? { payload: Uint8Array.of(h & 0xff) } : {}))
      }
    }
    // at ingest the clock already says day 100: the first ~10 days are past retention and never stored
    const ingested = await node.store.ingest(batch)
    expect(ingested.expired).toBe(points.filter(p => p.timestamp < clock.now - RETENTION.scoresMs).length)
    expect(ingested.stored + ingested.expired).toBe(points.length)
    clock.now = T0 + 100 * DAY_MS

    const check = async (now: number): Promise<void> => {
      const kept = points.filter(p => p.timestamp >= now - RETENTION.scoresMs)
      for (const v of validators) {
        const records = []
        for await (const r of node.store.series(v)) records.push(r)
        const mine = kept.filter(p => p.validator === v)
        expect(records.length).toBe(mine.length)
        for (const r of records) {
          expect(r.commitment != null).toBe(r.timestamp >= now - RETENTION.commitmentsMs)
          if (r.height % 4 === 0) expect(r.payload != null).toBe(r.timestamp >= now - RETENTION.payloadMs)
          else expect(r.payload).toBeUndefined()
        }
        for (const resolution of ['minute', 'hour', 'day'] as const) {
          const got = await node.store.aggregate({ validator: v, resolution, from: 0, to: now + DAY_MS })
          expect(got).toEqual(model(mine, resolution).map(b => expect.objectContaining(b)))
        }
      }
      for (const resolution of ['round', 'hour', 'day'] as const) {
        const got = await node.store.aggregate({ resolution, from: 0, to: now + DAY_MS })
        expect(got).toEqual(model(kept, resolution).map(b => expect.objectContaining(b)))
      }
    }

    // sweeps at uneven times, each cutting through buckets
    let total = { records: 0, commitments: 0, payloads: 0, rebuilt: 0 }
    for (const step of [0, 0.37, 1.5, 4.2, 10, 33.3]) {
      const now = T0 + 100 * DAY_MS + Math.round(step * DAY_MS)
      clock.now = now
      const r = await node.store.sweep()
      total = { records: total.records + r.records, commitments: total.commitments + r.commitments, payloads: total.payloads + r.payloads, rebuilt: total.rebuilt + r.rebuilt }
      await check(now)
    }
    expect(total.records).toBeGreaterThan(0)
    expect(total.commitments).toBeGreaterThan(0)
    expect(total.payloads).toBeGreaterThan(0)
    // buckets cut through lost their extremes and were rebuilt from their records
    expect(total.rebuilt).toBeGreaterThan(0)
    // payload blocks and pins of swept payloads are gone
    const swept = batch.filter(a => a.payload != null && a.timestamp < clock.now - RETENTION.payloadMs && a.timestamp >= clock.now - RETENTION.scoresMs)
    expect(swept.length).toBeGreaterThan(0)
    await expect(node.store.getPayload(swept[0].validator, swept[0].height)).rejects.toHaveProperty('name', 'PayloadNotFoundError')
    let pins = 0
    for await (const key of node.db.keys({ gte: Uint8Array.of(0x0a), lt: Uint8Array.of(0x0b) })) { pins++; void key }
    const live = points.filter(p => p.height % 4 === 0 && p.timestamp >= clock.now - RETENTION.payloadMs).length
    expect(pins).toBe(live)
    let blocks = 0
    for await (const key of node.blocks.keys()) { blocks++; void key }
    expect(blocks).toBe(live)

    // a sweep logs counts only
    const sweepLines = lines.filter(l => l.msg === 'attestation retention sweep')
    expect(sweepLines.length).toBe(6)
    for (const l of sweepLines) expect(Object.keys(l).filter(k => !['level', 'time', 'pid', 'hostname', 'room', 'msg'].includes(k)).sort()).toEqual(['commitments', 'ms', 'payloads', 'rebuilt', 'records'])
    const text = JSON.stringify(lines)
    expect(text).not.toContain(master.slice(0, 16))
    clock.now = T0
  })

  function model (points: Array<{ height: number, timestamp: number, score: number }>, resolution: Resolution): Array<{ bucket: number, count: number, min: number, max: number }> {
    const m = new Map<number, number[]>()
    for (const p of points) {
      const b = resolution === 'round' ? p.height : Math.floor(p.timestamp / BUCKET_MS[resolution]) * BUCKET_MS[resolution]
      m.set(b, [...(m.get(b) ?? []), p.score])
    }
    return [...m.entries()].sort((a, b) => a[0] - b[0]).map(([bucket, s]) => ({ bucket, count: s.length, min: Math.min(...s), max: Math.max(...s) }))
  }
})
