/**
 * Backups and integrity.
 *
 * A store with `blocks` benchmark blocks (100 transactions each) and a state
 * of `accounts` accounts committed over 10 heights. Figures:
 * - backup create MB/s (CAR bytes written per second), store open, against
 *   copying the closed store's LevelDB directory with fs.cp (MB of the
 *   directory per second);
 * - restore MB/s (verify every backup block, write, rebuild every index) into
 *   a fresh data dir, against the same fs.cp;
 * - verifyStore blocks/s (re-hash every block, check every index entry,
 *   pinned DAG, head, state) against a raw classic-level iteration that
 *   sha256-hashes every block value of the same blocks sublevel;
 * - verifyBackup MB/s against sha256 of the same CAR files;
 * - the same full backup written to, verified from and restored from an
 *   S3-compatible bucket (s3rver) and an Azure Blob container (Azurite),
 *   servers started here on 127.0.0.1, each against the local directory's
 *   figure of the same run (BENCH_BACKUP_REMOTE=0 leaves them out).
 */
import { cp, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { createBackup, restoreBackup, verifyBackup } from '../src/backup/index.ts'
import { verifyStore } from '../src/integrity/index.ts'
import { createChainStore } from '../src/index.ts'
import { StateStore, emptyAccount } from '../src/state/index.ts'
import { LEVEL_DIR } from '../src/storage/level.ts'
import { LIMITS, benchChain, envInt, figure, fmt, openRaw, progress, quietLogger, type Figure } from './common.ts'
import { startAzurite, startS3rver, type ObjectServer } from '../test/helpers/object-servers.ts'

/** Settings of the backup part. */
export interface BackupBenchOptions {
  blocks: number
  accounts: number
  /** Also measure S3 (s3rver) and Azure Blob (Azurite) destinations. */
  remote: boolean
}

/** Settings from the environment. */
export function backupOptionsFromEnv (): BackupBenchOptions {
  return { blocks: Math.max(20, envInt('BENCH_BACKUP_BLOCKS', 2_000)), accounts: envInt('BENCH_BACKUP_ACCOUNTS', 2_000), remote: envInt('BENCH_BACKUP_REMOTE', 1) !== 0 }
}

const MB = 1e6

async function dirBytes (dir: string): Promise<number> {
  const { readdir, stat } = await import('node:fs/promises')
  let n = 0
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    n += e.isDirectory() ? await dirBytes(p) : (await stat(p)).size
  }
  return n
}

async function timeCp (from: string, to: string): Promise<{ ms: number, bytes: number }> {
  await rm(to, { recursive: true, force: true })
  const t = performance.now()
  await cp(from, to, { recursive: true })
  const ms = performance.now() - t
  const bytes = await dirBytes(to)
  await rm(to, { recursive: true, force: true })
  return { ms, bytes }
}

interface RemoteFigures { kind: 's3' | 'azure', createMs: number, verifyMs: number, restoreMs: number, bytes: number }

/** One full backup to a bucket or container of `server`, verified (re-hashed from the server) and restored from it into a fresh data dir. */
async function remoteRound (kind: 's3' | 'azure', server: ObjectServer, store: Parameters<typeof createBackup>[0], root: string): Promise<RemoteFigures> {
  const spec = server.spec('bench-backups', 'chain')
  progress(`backup: createBackup (full) to ${kind === 's3' ? 'S3 (s3rver)' : 'Azure Blob (Azurite)'}`)
  const created = await createBackup(store, spec)
  progress(`backup: verifyBackup from ${kind}`)
  const verified = await verifyBackup(spec)
  progress(`backup: restoreBackup from ${kind} into a fresh data dir`)
  const target = join(root, `backup-restored-${kind}`)
  const restored = await restoreBackup(spec, target)
  await rm(target, { recursive: true, force: true })
  return { kind, createMs: created.ms, verifyMs: verified.ms, restoreMs: restored.ms, bytes: created.manifest.bytes }
}

/** Runs the backup part. */
export async function runBackup (root: string, opts: BackupBenchOptions): Promise<Figure[]> {
  const group = 'backup'
  const dataDir = join(root, 'backup-src')
  const backups = join(root, 'backup-dir')
  progress(`backup: ingesting ${fmt(opts.blocks)} blocks and ${fmt(opts.accounts)} accounts (not timed)`)
  const store = await createChainStore({ dataDir }, { logger: quietLogger })
  const chain = benchChain()
  for (let i = 0; i < opts.blocks; i += 50) await store.storeBlocks(chain.take(Math.min(50, opts.blocks - i), LIMITS))
  const m = store.maintenance()
  const state = await StateStore.open({ db: m.db, blocks: m.blocks, sync: false, logger: quietLogger })
  for (let i = 0; i < opts.accounts; i++) {
    const key = new Uint8Array(20)
    key[0] = i >> 8; key[1] = i & 0xff; key[19] = 7
    await state.put(key, { ...emptyAccount(), balance: BigInt(i) * 10n ** 15n, nonce: i })
    if ((i + 1) % Math.ceil(opts.accounts / 10) === 0) await state.commit(state.head() == null ? 0 : state.head()!.height + 1)
  }
  if (state.pendingChanges > 0) await state.commit(state.head() == null ? 0 : state.head()!.height + 1)
  await state.close()

  progress('backup: createBackup (full)')
  const created = await createBackup(store, backups)
  const createMs = created.ms
  progress('backup: verifyStore')
  const v0 = performance.now()
  const checked = await verifyStore(store)
  const verifyStoreMs = performance.now() - v0
  if (checked.problems > 0) throw new Error(`bench store has ${checked.problems} problems: ${JSON.stringify(checked.counts)}`)
  const remote: RemoteFigures[] = []
  if (opts.remote) {
    for (const [kind, start] of [['s3', startS3rver], ['azure', startAzurite]] as const) {
      const server = await start(['bench-backups'])
      try {
        remote.push(await remoteRound(kind, server, store, root))
      } finally {
        await server.stop()
      }
    }
  }
  await store.stop()

  progress('backup: baselines (fs.cp of the closed LevelDB dir; raw iterate + sha256)')
  const copy = await timeCp(join(dataDir, LEVEL_DIR), join(root, 'backup-cp'))
  const raw = await openRaw(join(dataDir, LEVEL_DIR))
  const r0 = performance.now()
  let rawBlocks = 0
  const blocksDb = raw.sublevel<string, Uint8Array>('blocks', { keyEncoding: 'utf8', valueEncoding: 'view' })
  for await (const [, value] of blocksDb.iterator()) { createHash('sha256').update(value).digest(); rawBlocks++ }
  const rawVerifyMs = performance.now() - r0
  await raw.close()

  progress('backup: verifyBackup')
  const vb = await verifyBackup(backups)
  const s0 = performance.now()
  let shaBytes = 0
  for (const f of created.manifest.files) {
    const h = createHash('sha256')
    for await (const chunk of createReadStream(join(created.dir, f.name))) { h.update(chunk as Buffer); shaBytes += (chunk as Buffer).length }
    h.digest()
  }
  const shaMs = performance.now() - s0

  progress('backup: restoreBackup into a fresh data dir')
  const target = join(root, 'backup-restored')
  const restored = await restoreBackup(backups, target)
  await rm(target, { recursive: true, force: true })

  const cpMBps = copy.bytes / MB / (copy.ms / 1000)
  const backupBytes = created.manifest.bytes
  const localCreate = backupBytes / MB / (createMs / 1000)
  const localRestore = backupBytes / MB / (restored.ms / 1000)
  const localVerify = vb.bytes / MB / (vb.ms / 1000)
  const remoteFigures = remote.flatMap(r => {
    const where = r.kind === 's3' ? 'an S3 bucket (s3rver on 127.0.0.1, 5 MiB parts)' : 'an Azure Blob container (Azurite on 127.0.0.1, 5 MiB blocks)'
    const d = { bytes: r.bytes, createMs: r.createMs, verifyMs: r.verifyMs, restoreMs: r.restoreMs }
    return [
      figure({ id: `backup.${r.kind}.create.MBps`, group, label: `createBackup (full) streamed to ${where}`, unit: 'MB/s', value: r.bytes / MB / (r.createMs / 1000), better: 'higher', baseline: { label: 'createBackup to a local directory (same run)', value: localCreate }, detail: d }),
      figure({ id: `backup.${r.kind}.verify.MBps`, group, label: `verifyBackup re-hashing from ${where}`, unit: 'MB/s', value: r.bytes / MB / (r.verifyMs / 1000), better: 'higher', baseline: { label: 'verifyBackup of a local directory (same run)', value: localVerify }, detail: d }),
      figure({ id: `backup.${r.kind}.restore.MBps`, group, label: `restoreBackup streamed from ${where} into a fresh data dir`, unit: 'MB/s', value: r.bytes / MB / (r.restoreMs / 1000), better: 'higher', baseline: { label: 'restoreBackup from a local directory (same run)', value: localRestore }, detail: d })
    ]
  })
  const detail = { blocks: opts.blocks, accounts: opts.accounts, backupBytes, carBlocks: created.manifest.blocks, levelDirBytes: copy.bytes, cpMs: copy.ms }
  return [
    figure({ id: 'backup.create.MBps', group, label: `createBackup (full: ${fmt(opts.blocks)} blocks, state, ${fmt(backupBytes / MB, 1)} MB of CARs)`, unit: 'MB/s', value: backupBytes / MB / (createMs / 1000), better: 'higher', baseline: { label: 'fs.cp of the closed LevelDB dir', value: cpMBps }, detail: { ...detail, ms: createMs } }),
    figure({ id: 'backup.restore.MBps', group, label: 'restoreBackup (verify, write, rebuild indexes) into a fresh data dir', unit: 'MB/s', value: backupBytes / MB / (restored.ms / 1000), better: 'higher', baseline: { label: 'fs.cp of the closed LevelDB dir', value: cpMBps }, detail: { ms: restored.ms, heights: restored.heights } }),
    figure({ id: 'backup.verify.MBps', group, label: 'verifyBackup (hash every block, order, DAGs, manifest chain)', unit: 'MB/s', value: vb.bytes / MB / (vb.ms / 1000), better: 'higher', baseline: { label: 'sha256 of the same CAR files', value: shaBytes / MB / (shaMs / 1000) }, detail: { ms: vb.ms, blocks: vb.blocks } }),
    ...remoteFigures,
    figure({ id: 'integrity.verify.blocksPerSec', group, label: 'verifyStore (hash every block, check indexes, pins, head, state)', unit: 'blocks/s', value: checked.blocks / (verifyStoreMs / 1000), better: 'higher', baseline: { label: 'raw classic-level iterate + sha256 of every block', value: rawBlocks / (rawVerifyMs / 1000) }, detail: { ms: verifyStoreMs, blocks: checked.blocks, heights: checked.heights } })
  ]
}
