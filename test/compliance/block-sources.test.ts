/**
 * The BlockSource compliance suite against every tier chainstore builds its
 * read path from: LevelDB, a trustless gateway, the remote stack, the
 * connected-peers (bitswap) tier, and a store's whole tiered source.
 */
import { join } from 'node:path'
import type { CID } from 'multiformats/cid'
import { afterEach } from 'vitest'
import { cidOf, RAW } from '../../src/codec/cid.ts'
import { createChainStore, type ChainStore } from '../../src/index.ts'
import { GatewayClient, type GatewayScore } from '../../src/gateway/client.ts'
import { gatewayBlockSource } from '../../src/gateway/tier.ts'
import { peerBlockSource } from '../../src/replication/bitswap-tier.ts'
import { blockKey } from '../../src/storage/keys.ts'
import { openKv } from '../../src/storage/kv.ts'
import { openLevel, startBatch } from '../../src/storage/level.ts'
import { RemoteBlocks, levelSource } from '../../src/storage/sources.ts'
import { closeTestGateways, testGateway } from '../helpers/gateway.ts'
import { quietLogger, tempDir } from '../helpers/store.ts'
import { blockSourceTests, type BlockSourceFixture } from './block-source.ts'

afterEach(closeTestGateways)

const enc = new TextEncoder()
/** Three blocks to hold, one nobody holds, one whose holder has the wrong bytes. */
function sample (tag: string): { present: Array<{ cid: CID, bytes: Uint8Array }>, missing: CID, corrupt: { cid: CID, bytes: Uint8Array } } {
  const present = [1, 2, 3].map(i => { const bytes = enc.encode(`${tag} block ${i} `.repeat(20 * i)); return { cid: cidOf(bytes, RAW), bytes } })
  const missing = cidOf(enc.encode(`${tag}: nobody holds this`), RAW)
  const good = enc.encode(`${tag}: damaged where it is held`)
  const bytes = Uint8Array.from(good)
  bytes[3] ^= 0x20
  return { present, missing, corrupt: { cid: cidOf(good, RAW), bytes } }
}

let cleanups: Array<() => Promise<void>> = []
const teardown = async (): Promise<void> => { for (const c of cleanups.splice(0).reverse()) await c() }

/** A gateway on 127.0.0.1 holding the sample (the damaged block served as held) and a client over it. */
async function gatewayClient (s: ReturnType<typeof sample>): Promise<GatewayClient> {
  const t = await tempDir('chainstore-compliance-')
  const { db } = await openLevel(t.dir, { writeBufferSize: 4 << 20, cacheSize: 8 << 20 })
  cleanups.push(async () => { await db.close(); await t.cleanup() })
  const blocks = new Map([...s.present.map(b => [b.cid.toString(), b.bytes] as const), [s.corrupt.cid.toString(), s.corrupt.bytes]])
  const gw = await testGateway('honest', blocks)
  return new GatewayClient({ gateways: [gw.url], timeoutMs: 2_000, stallMs: 1_000, maxBytes: 1 << 20, maxCarBytes: 1 << 20, scores: openKv<GatewayScore>(db, 'gateway-scores', { sync: false, isOpen: () => true }), logger: quietLogger })
}

blockSourceTests('level (local blocks, re-hashed on read)', {
  setup: async (): Promise<BlockSourceFixture> => {
    const s = sample('level')
    const t = await tempDir('chainstore-compliance-')
    const { db, blocks } = await openLevel(t.dir, { writeBufferSize: 4 << 20, cacheSize: 8 << 20 })
    cleanups.push(async () => { await db.close(); await t.cleanup() })
    const batch = startBatch(db, blocks)
    for (const b of s.present) batch.putBlock(b.cid, b.bytes)
    await batch.write(false)
    // damage at rest: the key of one block holds other bytes
    await blocks.put(blockKey(s.corrupt.cid), s.corrupt.bytes)
    return { source: levelSource(blocks), present: s.present, missing: s.missing, corrupt: s.corrupt.cid }
  },
  teardown
})

blockSourceTests('gateway tier (trustless gateway on 127.0.0.1)', {
  setup: async () => {
    const s = sample('gateway')
    return { source: gatewayBlockSource(await gatewayClient(s)), present: s.present, missing: s.missing, corrupt: s.corrupt.cid }
  },
  teardown
})

blockSourceTests('remote stack (gateway tier behind RemoteBlocks)', {
  setup: async () => {
    const s = sample('remote')
    const remote = new RemoteBlocks()
    remote.add({ source: gatewayBlockSource(await gatewayClient(s)) })
    return { source: remote, present: s.present, missing: s.missing, corrupt: s.corrupt.cid }
  },
  teardown
})

blockSourceTests('peers tier (bitswap from a connected store on 127.0.0.1)', {
  setup: async () => {
    const s = sample('peers')
    const t = await tempDir('chainstore-compliance-')
    const holder = await createChainStore({ dataDir: join(t.dir, 'holder'), network: { enabled: true, seed: 'compliance-holder' } }, { logger: quietLogger })
    let reader: ChainStore | undefined
    cleanups.push(async () => { await reader?.stop(); await holder.stop(); await t.cleanup() })
    for (const b of s.present) await holder.putBytes(b.bytes)
    await holder.maintenance().blocks.put(blockKey(s.corrupt.cid), s.corrupt.bytes)
    reader = await createChainStore({ dataDir: join(t.dir, 'reader'), network: { enabled: true, seed: 'compliance-reader', peers: holder.replication!.addresses() } }, { logger: quietLogger })
    while (reader.replication!.libp2p.getConnections().length === 0) await new Promise(resolve => setTimeout(resolve, 20))
    const rep = reader.replication!
    return { source: peerBlockSource(async (cid, signal) => await rep.getBytes(cid, signal), 1_500), present: s.present, missing: s.missing, corrupt: s.corrupt.cid }
  },
  teardown
})

blockSourceTests('a store\'s tiered source (local, fetch cache, gateways)', {
  setup: async () => {
    const s = sample('tiered')
    const t = await tempDir('chainstore-compliance-')
    // the gateway holds two of the blocks; the store holds the third itself
    const gwBlocks = new Map([...s.present.slice(1).map(b => [b.cid.toString(), b.bytes] as const), [s.corrupt.cid.toString(), s.corrupt.bytes]])
    const gw = await testGateway('honest', gwBlocks)
    const store = await createChainStore({ dataDir: join(t.dir, 'data'), gateways: { enabled: true, urls: [gw.url], timeoutMs: 2_000 } }, { logger: quietLogger })
    cleanups.push(async () => { await store.stop(); await t.cleanup() })
    await store.putBytes(s.present[0].bytes)
    return { source: store.blocks, present: s.present, missing: s.missing, corrupt: s.corrupt.cid }
  },
  teardown
})
