/**
 * Byzantine peers and bad input against honest peers in their own processes
 * (127.0.0.1 only): a writer outside the validator set, entries claiming a
 * validator's identity signed with another key (forged identity), an entry
 * of a validator whose signature does not cover its content, a replayed entry
 * from another log, an entry with thousands of `next` pointers to missing
 * CIDs, malformed dag-cbor, huge payloads and floods of heads on the chain
 * log's pubsub topic, garbage/oversized/unknown requests on every protocol,
 * a peer serving wrong bytes, and gateways serving wrong, truncated, huge and
 * dripping bodies. Each attack counts as accepted when anything of it shows
 * on an honest peer (head, fold, validators, stored bytes) or a peer dies.
 * Memory of the honest reader is measured (heap after GC) before and after.
 */
import { join } from 'node:path'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { randomBytes } from 'node:crypto'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { PeerProcess } from '../../src/devnet/controller.ts'
import { cidOf, RAW } from '../../src/codec/cid.ts'
import { identityIdFromSeed } from '../../src/replication/keys.ts'
import { ACK_PROTOCOL, BLOCKS_PROTOCOL, LOG_PROTOCOL } from '../../src/replication/protocol.ts'
import { HEAD_PROTOCOL } from '../../src/replication/head-protocol.ts'
import type { ChainStoreConfigInput } from '../../src/index.ts'
import { openTestStore, tempDir } from '../helpers/store.ts'
import { closeTestGateways, testGateway, type Behaviour } from '../helpers/gateway.ts'
import { eventually } from '../helpers/wait.ts'

const WRITERS = ['writer-1', 'writer-2'].map(identityIdFromSeed)
let dir: string
let cleanup: () => Promise<void>
const peers: PeerProcess[] = []
const results: Array<{ attack: string, accepted: boolean, detail?: string }> = []

beforeAll(async () => { ({ dir, cleanup } = await tempDir('chainstore-byz-')) })
afterEach(closeTestGateways)
afterAll(async () => {
  await Promise.all(peers.map(async p => await p.stop()))
  await cleanup()
})

function config (name: string, peersList: string[] = []): ChainStoreConfigInput {
  return { dataDir: join(dir, name), logLevel: 'silent', network: { enabled: true, seed: name, writers: WRITERS, peers: peersList, intervalMs: 500, quorumTimeoutMs: 3_000, fetchTimeoutMs: 3_000 } }
}
async function start (name: string, peersList: string[] = [], options: { byzantine?: 'wrong-bytes' } = {}): Promise<PeerProcess> {
  const p = await PeerProcess.start(config(name, peersList), { ...options, execArgv: ['--expose-gc'], stdio: name === 'mallory' ? 'inherit' : 'ignore' })
  peers.push(p)
  return p
}
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
/** Where two snapshots part: a little context before, then each side. */
function firstDifference (a: string, b: string): string {
  let i = 0
  while (i < a.length && a[i] === b[i]) i++
  return `…${a.slice(Math.max(0, i - 60), i)} [was] ${a.slice(i, i + 80)} [now] ${b.slice(i, i + 80)}`
}
const MiB = (n: number): string => (n / 1048576).toFixed(1)

describe('Byzantine peers and bad input', () => {
  it('every attack is rejected, nothing bad is stored, memory stays bounded and honest replication goes on', async () => {
    const w1 = await start('writer-1')
    const a1 = (await w1.call('info')).addresses[0] as string
    const r2 = await start('reader-2', [a1])
    const a2 = (await r2.call('info')).addresses[0] as string
    await w1.call('ingest', { count: 5, txs: 10, seed: 21 })
    await w1.call('putValidator', { id: 'val-a', state: { stake: '100', status: 'active', lastSeen: 1 } })
    await r2.waitForHeight(4, 60_000)
    await eventually(async () => (await r2.call('validators')).length === 1, 30_000)
    // the reader may hold the blocks (replica confirmations fetch them directly) before its chain log
    // has folded their announcements: the baseline is taken once both folds agree, or a late fold
    // looks like a change an attack made
    await eventually(async () => (await r2.call('stats')).fold === (await w1.call('stats')).fold && (await w1.call('stats')).fold > 0, 30_000)
    const mallory = await start('mallory', [a1, a2])
    const dbs = (await w1.call('info')).databases as { chain: string, validators: string }
    const memBefore = await r2.call('memory')

    /** What an attack must not change on the honest peers. */
    const snapshot = async (): Promise<string> => JSON.stringify(await Promise.all([w1, r2].map(async p => [await p.call('head'), (await p.call('stats')).fold, await p.call('validators')])))
    const baseline = await snapshot()
    const attack = async (name: string, run: () => Promise<unknown>, extra: () => Promise<string | undefined> = async () => undefined): Promise<void> => {
      let detail: string | undefined
      try { await run() } catch (err) { detail = `attack op failed: ${(err as Error).message}` }
      await new Promise(resolve => setTimeout(resolve, 1_500)) // let it propagate
      const now = await snapshot()
      const changed = now !== baseline
      const bad = await extra()
      const died = [w1, r2].find(p => p.crashed != null)
      const accepted = changed || bad != null || died != null
      results.push({ attack: name, accepted, detail: accepted ? (bad ?? (died != null ? `peer died: ${died.crashed}` : `honest state changed: ${firstDifference(baseline, now)}`)) : detail })
    }

    // 1. a writer outside the validator set
    let forged = ''
    await attack('writer outside the validator set', async () => { forged = await mallory.call('forgeAnnouncement', { address: dbs.chain, height: 5 }) })
    // 2-4. entries built from a real validator entry
    const [head] = await w1.call('headEntries', { database: 'chain' }) as Array<{ hash: string, hex: string }>
    const entry = dagCbor.decode<any>(Buffer.from(head.hex, 'hex'))
    const tampered = { ...entry, payload: { ...entry.payload, value: { v: 1, blocks: [{ ...entry.payload.value.blocks[0], weight: 1_000_000, finalized: true }] } } }
    await attack('tampered entry: writer-1\'s entry with its content changed, signature not over it', async () => await mallory.call('publishRaw', { topic: dbs.chain, hex: hex(dagCbor.encode(tampered)) }))
    const [vHead] = await w1.call('headEntries', { database: 'validators' }) as Array<{ hash: string, hex: string }>
    // a forged identity: an entry claiming writer-1's identity, signed with mallory's key
    const forgedState = { op: 'PUT', key: 'val-a', value: { stake: '999999999', status: 'jailed', lastSeen: 2 } }
    await attack('forged identity: validators entry claiming writer-1, signed by mallory with its own key beside it', async () => await mallory.call('forgeIdentity', { topic: dbs.validators, hex: vHead.hex, hash: vHead.hash, payload: forgedState, key: 'own' }))
    await attack('forged identity: validators entry claiming writer-1 and its key, signed by mallory', async () => await mallory.call('forgeIdentity', { topic: dbs.validators, hex: vHead.hex, hash: vHead.hash, payload: forgedState, key: 'claimed' }))
    await attack('forged identity: chain entry claiming writer-1, signed by mallory with its own key beside it', async () => await mallory.call('forgeIdentity', { topic: dbs.chain, hex: head.hex, hash: head.hash, payload: tampered.payload, key: 'own' }))
    await attack('replayed entry from the validators log on the chain log', async () => await mallory.call('publishRaw', { topic: dbs.chain, hex: vHead.hex }))
    const missing = await Promise.all(Array.from({ length: 5000 }, async (_, i) => CID.createV1(0x71, await sha256.digest(Buffer.from(`missing ${i}`)))))
    await attack('entry with 5,000 next pointers to missing CIDs', async () => await mallory.call('publishRaw', { topic: dbs.chain, hex: hex(dagCbor.encode({ ...tampered, next: missing, refs: missing.slice(0, 1000) })) }))
    // 5-7. malformed, huge, floods
    await attack('malformed dag-cbor heads x200', async () => await mallory.call('publishRaw', { topic: dbs.chain, hex: 'a56140a0615d' + 'ff'.repeat(40), repeat: 200, vary: true }))
    await attack('huge payload (900 KiB) on the chain topic', async () => await mallory.call('publishRaw', { topic: dbs.chain, hex: hex(dagCbor.encode({ ...entry, payload: { op: 'ADD', key: null, value: { v: 1, blocks: [], pad: randomBytes(900 * 1024) } } })) }))
    await attack('flood of 1,000 copies of a stale head', async () => await mallory.call('publishRaw', { topic: dbs.chain, hex: head.hex, repeat: 1000 }))
    // 8. bad requests on every protocol
    const unknown = Array.from({ length: 256 }, (_, i) => cidOf(Buffer.from(`nobody has ${i}`)))
    const requests: Array<[string, string, string, number?]> = [
      ['garbage on blocks', BLOCKS_PROTOCOL, 'deadbeef'],
      ['malformed dag-cbor request on blocks', BLOCKS_PROTOCOL, hex(dagCbor.encode({ want: [{ not: 'a cid' }] }))],
      ['257 wanted CIDs on blocks', BLOCKS_PROTOCOL, hex(dagCbor.encode({ want: [...unknown, unknown[0]] }))],
      ['oversized request (2 MiB) on ack', ACK_PROTOCOL, 'ab', 2 * 1024 * 1024],
      ['garbage on log', LOG_PROTOCOL, 'ff'],
      ['request bytes on head', HEAD_PROTOCOL, hex(randomBytes(300))]
    ]
    for (const [name, protocol, h, repeat] of requests) {
      await attack(name, async () => await mallory.call('rawRequest', { addr: a2, protocol, hex: h, repeat: repeat ?? 1 }))
    }
    // 8b. OrbitDB's head exchange as stock OrbitDB speaks it (unframed; cut into entries by CBOR structure)
    const stockHeads = `/orbitdb/heads${dbs.chain}`
    // well-formed entries first. A large stream can leave mallory's connection closing (the honest
    // peer busy past the ping timeout, or charging the refused entries): the dial is retried once,
    // so each attack reaches the honest peer
    const stockRequests: Array<[string, string, number?]> = [
      ['tampered entry on the stock head exchange', hex(dagCbor.encode(tampered))],
      ['1,000 copies of a stale head on the stock head exchange', head.hex, 1000],
      ['garbage on the stock head exchange', 'ff'],
      ['malformed dag-cbor on the stock head exchange', 'a56140a0615d' + 'ff'.repeat(40)],
      ['a byte string claiming 2^60 bytes, then 64 KiB, on the stock head exchange', '5b1000000000000000' + '00'.repeat(64 * 1024)],
      ['2 MiB of nested arrays on the stock head exchange', '81', 2 * 1024 * 1024]
    ]
    for (const [name, h, repeat] of stockRequests) {
      const send = async (): Promise<unknown> => await mallory.call('rawRequest', { addr: a2, protocol: stockHeads, hex: h, repeat: repeat ?? 1, lengthPrefixed: false })
      await attack(name, async () => await send().catch(async () => { await new Promise(resolve => setTimeout(resolve, 1_000)); return await send() }))
    }
    await attack('256 unknown CIDs x20 on blocks', async () => {
      for (let i = 0; i < 20; i++) await mallory.call('rawRequest', { addr: a2, protocol: BLOCKS_PROTOCOL, hex: hex(dagCbor.encode({ want: unknown })) })
    })
    // nothing of the forgeries is stored on the honest peers
    const storedForged = await Promise.all([w1, r2].map(async p => forged !== '' && await p.call('hasBlock', { cid: forged }).catch(() => false)))
    results.push({ attack: 'forged announcement block stored', accepted: storedForged.some(Boolean) })

    // 9. a peer serving wrong bytes to a newcomer
    const liar = await start('liar-3', [a1], { byzantine: 'wrong-bytes' })
    await liar.waitForHeight(4, 60_000)
    const victim = await start('victim-4', [(await liar.call('info')).addresses[0]])
    const noticed = await eventually(async () => (await victim.call('stats')).misbehaving >= 1, 30_000)
    const victimHead = await victim.call('head')
    results.push({ attack: 'peer serving wrong bytes', accepted: !noticed || (victimHead != null && victimHead.cid !== (await w1.call('canonical', { from: victimHead.height, to: victimHead.height }))[0]), detail: noticed ? undefined : 'not detected' })

    // 10. gateways: wrong, truncated, huge, dripping bodies
    const block = randomBytes(4096)
    const cid = cidOf(block, RAW)
    for (const b of ['wrong-bytes', 'truncated', 'huge', 'drip'] as Behaviour[]) {
      const gw = await testGateway(b, new Map([[cid.toString(), block]]))
      const ts = await openTestStore({ gateways: { enabled: true, urls: [gw.url], timeoutMs: 3_000, stallMs: 500 } })
      try {
        const got = await ts.store.getBytes(cid).then(bytes => Buffer.from(bytes).equals(block) ? 'verified' : 'wrong', (err: Error) => err.name)
        const kept = ts.store.localBytes(cid)
        results.push({ attack: `gateway ${b}`, accepted: got === 'wrong' || (kept != null && !Buffer.from(kept).equals(block)), detail: got })
      } finally {
        await ts.cleanup()
      }
    }

    // honest replication goes on
    await w1.call('ingest', { count: 3, txs: 10, seed: 21 })
    const h = (await w1.call('head')).height
    await r2.waitForHeight(h, 60_000)
    await victim.call('dial', { addr: a1 })
    await victim.waitForHeight(h, 90_000)
    const memAfter = await r2.call('memory')
    const honest = [w1, r2, victim]
    const dead = honest.filter(p => p.crashed != null)
    const attackersDied = [mallory, liar].filter(p => p.crashed != null).length

    const accepted = results.filter(r => r.accepted)
    console.log(results.map(r => `  ${r.accepted ? 'ACCEPTED' : 'rejected'}  ${r.attack}${r.detail != null ? ` (${r.detail})` : ''}`).join('\n'))
    console.log(`[faults:byzantine] attacks tried=${results.length} accepted=${accepted.length} honestReaderHeap=${MiB(memBefore.heapUsed)}→${MiB(memAfter.heapUsed)} MiB rss=${MiB(memBefore.rss)}→${MiB(memAfter.rss)} MiB gcExposed=${String(memAfter.gcExposed)} honestPeersDied=${dead.length} attackerProcessesDied=${attackersDied}`)
    expect(accepted.map(r => `${r.attack}: ${r.detail ?? ''}`)).toEqual([])
    expect(dead.map(p => p.crashed)).toEqual([])
    expect(memAfter.heapUsed - memBefore.heapUsed).toBeLessThan(96 * 1024 * 1024)
  }, 600_000)
})
