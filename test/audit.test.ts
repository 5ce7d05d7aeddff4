/**
 * The audit trail (src/audit): one signed, hash-chained event per storage
 * operation, verified end to end; tampering with an event or the chain is
 * found and named.
 */
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterEach, describe, expect, it } from 'vitest'
import { startReadApi } from '../src/api/server.ts'
import { createBackup } from '../src/backup/index.ts'
import { peerIdFromSeed, type AuditEvent } from '../src/index.ts'
import { openTestStore, quietLogger, tempDir } from './helpers/store.ts'

const execFileP = promisify(execFile)
const cleanups: Array<() => Promise<void>> = []
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c() })

async function events (t: Awaited<ReturnType<typeof openTestStore>>): Promise<AuditEvent[]> {
  await t.store.audit!.flush()
  const out: AuditEvent[] = []
  for await (const e of t.store.audit!.events()) out.push(e)
  return out
}

/** The trail's sublevel, to damage it the way a person with disk access would. */
function trailDb (t: Awaited<ReturnType<typeof openTestStore>>) {
  return t.store.maintenance().db.sublevel<string, string>('audit', { keyEncoding: 'utf8', valueEncoding: 'utf8' })
}
const key = (seq: number): string => String(seq).padStart(16, '0')

describe('audit trail', () => {
  it('records one event per batch, pins, GC and backups, signed by the node key (its libp2p peer id); verify passes; no personal data', async () => {
    const t = await openTestStore({ network: { seed: 'audit-node' } })
    cleanups.push(t.cleanup)
    const blocks = t.chain.take(30, t.store.config.limits)
    for (let i = 0; i < 30; i += 10) await t.store.storeBlocks(blocks.slice(i, i + 10))
    const cid = await t.store.putBytes(new TextEncoder().encode('audited'), { pin: false })
    await t.store.pin(cid)
    await t.store.unpin(cid)
    await t.store.gc({ compact: false })
    const backups = await tempDir('chainstore-audit-backup-')
    cleanups.push(backups.cleanup)
    await createBackup(t.store, backups.dir)
    const all = await events(t)
    expect(all.map(e => e.kind)).toEqual(['blocks.stored', 'blocks.stored', 'blocks.stored', 'pin.added', 'pin.removed', 'gc', 'backup.created'])
    expect(all[0].detail).toMatchObject({ blocks: 10, from: 0, to: 9, head: 9 })
    expect(all.map(e => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7])
    expect(all[1].prev).toBe(all[0].hash)
    const v = await t.store.audit!.verify()
    expect(v).toEqual({ events: 7, signer: await peerIdFromSeed('audit-node'), ok: true })
    // no addresses, no transaction contents
    const text = JSON.stringify(all)
    for (const tx of blocks[0].transactions) expect(text).not.toContain(tx.from.slice(2).toLowerCase())
  })

  it('attestation writes, erasures (by validator id only) and master-key rotations are recorded; the payload never is', async () => {
    const { randomBytes } = await import('node:crypto')
    const { commitSample } = await import('../src/attestations/index.ts')
    const { MasterKey } = await import('../src/attestations/keystore.ts')
    process.env.CHAINSTORE_MASTER_KEY_AUDIT = randomBytes(32).toString('hex')
    const t = await openTestStore({ attestations: { enabled: true, masterKeyEnv: 'CHAINSTORE_MASTER_KEY_AUDIT' } })
    cleanups.push(t.cleanup)
    const marker = 'READING-audit-PRIVATE'
    await t.store.attestations!.ingest([{
      validator: 'val-a', height: 1, timestamp: Date.now() - 5_000, score: 0.5,
      commitment: commitSample(new TextEncoder().encode('s'), new Uint8Array(32).fill(1)),
      payload: { note: marker }
    }])
    await t.store.attestations!.erase('val-a')
    await t.store.keystore!.rotateMasterKey(MasterKey.fromBytes(randomBytes(32)))
    const all = await events(t)
    expect(all.map(e => [e.kind, e.detail])).toEqual([
      ['attestation.written', { attestations: 1 }],
      ['attestation.erased', { validator: 'val-a', erasedAt: expect.any(Number) }],
      ['key.rotated', { keys: expect.any(Number) }]
    ])
    expect(JSON.stringify(all)).not.toContain(marker)
    expect((await t.store.audit!.verify()).ok).toBe(true)
  })

  it('an altered event, a missing one and a re-hashed forgery are each found at the first break', async () => {
    const t = await openTestStore()
    cleanups.push(t.cleanup)
    for (let i = 0; i < 5; i++) await t.store.storeBlocks(t.chain.take(2, t.store.config.limits))
    const all = await events(t)
    expect(all).toHaveLength(5)
    const db = trailDb(t)
    // 1. a detail changed on disk
    const altered = { ...all[2], detail: { ...all[2].detail, blocks: 99 } }
    await db.put(key(3), JSON.stringify(altered))
    expect(await t.store.audit!.verify()).toMatchObject({ ok: false, firstBreak: { seq: 3, problem: expect.stringContaining('altered') } })
    // 2. the forger re-hashes it too: the signature gives it away
    const { createHash } = await import('node:crypto')
    const rehashed = { ...altered, hash: createHash('sha256').update(JSON.stringify([altered.seq, altered.at, altered.kind, altered.detail, altered.prev])).digest('hex') }
    await db.put(key(3), JSON.stringify(rehashed))
    expect(await t.store.audit!.verify()).toMatchObject({ ok: false, firstBreak: { seq: 3, problem: expect.stringContaining('signature') } })
    // 3. the original back, then an event removed from the middle
    await db.put(key(3), JSON.stringify(all[2]))
    expect((await t.store.audit!.verify()).ok).toBe(true)
    await db.del(key(2))
    expect(await t.store.audit!.verify()).toMatchObject({ ok: false, firstBreak: { seq: 2, problem: 'events 2..2 are missing' } })
    // 4. an event moved into the gap: its link is wrong
    await db.put(key(2), JSON.stringify({ ...all[3], seq: 2 }))
    expect(await t.store.audit!.verify()).toMatchObject({ ok: false, firstBreak: { seq: 2, problem: expect.stringContaining('chain is broken') } })
  })

  it('the CLI lists, verifies (exit 1 on a break) and exports; reads through the API are recorded when audit.reads is on', async () => {
    const t = await openTestStore({ audit: { reads: true } })
    cleanups.push(t.cleanup)
    await t.store.storeBlocks(t.chain.take(3, t.store.config.limits))
    const api = await startReadApi(t.store, { host: '127.0.0.1', port: 0, logger: quietLogger })
    expect((await fetch(`${api.url}/blocks/1`)).status).toBe(200)
    await api.close()
    const all = await events(t)
    expect(all.map(e => e.kind)).toEqual(['blocks.stored', 'read'])
    expect(all[1].detail).toEqual({ method: 'GET', route: '/blocks/:ref', status: 200 })
    await t.store.stop()
    const dataDir = join(t.dir, 'data')
    const cli = async (args: string[]) => await execFileP(process.execPath, ['src/cli/main.ts', '-d', dataDir, ...args], { timeout: 60_000 }).then(r => ({ code: 0, ...r }), (e: any) => ({ code: e.code as number, stdout: e.stdout as string, stderr: e.stderr as string }))
    const ok = await cli(['audit', 'verify'])
    expect(ok.code, ok.stderr).toBe(0)
    expect(ok.stdout).toMatch(/^ok: 2 events, hash chain whole, every signature by 12D3Koo/)
    const ls = JSON.parse((await cli(['--json', 'audit', 'ls'])).stdout)
    expect(ls.map((e: AuditEvent) => e.seq)).toEqual([2, 1])
    const file = join(t.dir, 'audit.jsonl')
    expect((await cli(['audit', 'export', file])).code).toBe(0)
    expect((await readFile(file, 'utf8')).trim().split('\n').map(l => JSON.parse(l).hash)).toEqual(all.map(e => e.hash))
    const reopened = await t.reopen()
    await trailDb({ ...t, store: reopened }).put(key(1), JSON.stringify({ ...all[0], detail: { blocks: 1 } }))
    await reopened.stop()
    const broken = await cli(['audit', 'verify'])
    expect(broken.code).toBe(1)
    expect(broken.stdout).toMatch(/^BROKEN at event 1: its content does not hash/)
  })
})
