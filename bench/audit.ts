/**
 * What the audit trail costs ingest: the same chain stored with
 * `audit.enabled` true and false in the same run (alternating, best of
 * `BENCH_AUDIT_ROUNDS`), 10 blocks of 100 transactions per `storeBlocks`
 * call; the trail writes one signed event per call.
 */
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { createChainStore } from '../src/index.ts'
import type { BlockInput } from '../src/codec/types.ts'
import { chunks, envInt, figure, fmt, generateChain, progress, quietLogger, settle, type Figure } from './common.ts'

async function ingest (dir: string, batches: BlockInput[][], audit: boolean): Promise<{ txPerSec: number, events: number }> {
  await rm(dir, { recursive: true, force: true })
  const store = await createChainStore({ dataDir: dir, audit: { enabled: audit } }, { logger: quietLogger })
  try {
    const txs = batches.reduce((n, b) => n + b.reduce((m, x) => m + x.transactions.length, 0), 0)
    const started = performance.now()
    for (const batch of batches) await store.storeBlocks(batch)
    await store.audit?.flush()
    const seconds = (performance.now() - started) / 1000
    let events = 0
    if (store.audit != null) for await (const _ of store.audit.events()) events++
    return { txPerSec: txs / seconds, events }
  } finally {
    await store.stop()
  }
}

export async function runAudit (root: string): Promise<Figure[]> {
  const blocks = envInt('BENCH_AUDIT_BLOCKS', 1_000)
  const rounds = envInt('BENCH_AUDIT_ROUNDS', 3)
  progress(`audit: ${fmt(blocks)} blocks × 100 txs, 10 per call, audit on and off alternating, best of ${rounds}`)
  const batches = chunks(generateChain(blocks).inputs, 10)
  let on = { txPerSec: 0, events: 0 }
  let off = { txPerSec: 0, events: 0 }
  for (let r = 0; r < rounds; r++) {
    await settle()
    const a = await ingest(join(root, 'audit-on'), batches, true)
    await settle()
    const b = await ingest(join(root, 'audit-off'), batches, false)
    if (a.txPerSec > on.txPerSec) on = a
    if (b.txPerSec > off.txPerSec) off = b
  }
  if (on.events !== batches.length) throw new Error(`audit bench: ${on.events} events for ${batches.length} calls`)
  progress(`audit: on ${fmt(on.txPerSec)} tx/s (${on.events} events), off ${fmt(off.txPerSec)} tx/s`)
  return [figure({
    id: 'audit.ingest.txPerSec',
    group: 'audit',
    label: `storeBlocks with the audit trail on (${fmt(on.events)} signed events, one per call)`,
    unit: 'tx/s',
    value: on.txPerSec,
    better: 'higher',
    baseline: { label: 'the same with audit.enabled false', value: off.txPerSec },
    detail: { events: on.events, calls: batches.length }
  })]
}
