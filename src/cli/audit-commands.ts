import { open } from 'node:fs/promises'
import type { Command } from 'commander'
import type { ChainStore } from '../node/chainstore.ts'
import type { AuditLog } from '../audit/log.ts'
import { InvalidQueryError } from '../storage/errors.ts'
import { EXIT } from './exit.ts'
import { intOption, outputFileError } from './input.ts'
import { startProgress } from './progress.ts'

/** What the audit commands take from the CLI's composition (src/cli/main.ts). */
export interface AuditCliContext {
  withStore: <T>(fn: (store: ChainStore) => Promise<T>) => Promise<T>
  print: (human: string, data: unknown) => void
}

function trailOf (s: ChainStore): AuditLog {
  if (s.audit == null) throw new InvalidQueryError('the audit trail is off (config audit.enabled is false)')
  return s.audit
}

/** `chainstore audit ls|verify|export`. */
export function registerAuditCommands (program: Command, ctx: AuditCliContext): void {
  const audit = program.command('audit').description('the audit trail: signed, hash-chained events of storage operations (blocks stored and imported, pins, GC, backups, reads when audit.reads)')
  audit.command('ls')
    .description('the latest events, newest first')
    .option('--limit <n>', 'how many', intOption(1, 100_000), 20)
    .addHelpText('after', '\nExample:\n  $ chainstore audit ls --limit 5 --json')
    .action(async (opts: { limit: number }) => {
      const events = await ctx.withStore(async s => {
        const out = []
        for await (const e of trailOf(s).events({ reverse: true, limit: opts.limit })) out.push(e)
        return out
      })
      ctx.print(events.length === 0 ? 'no events' : events.map(e => `${String(e.seq).padStart(6)}  ${e.at}  ${e.kind.padEnd(18)} ${JSON.stringify(e.detail)}`).join('\n'), events)
    })
  audit.command('verify')
    .description('re-hash every event, check every link and signature against the node key; exit 1 and name the first break')
    .addHelpText('after', '\nExit code 0: the trail is whole; 1: it is broken (the output says where and how).\nExample:\n  $ chainstore audit verify')
    .action(async () => {
      const r = await ctx.withStore(async s => await trailOf(s).verify())
      ctx.print(r.ok
        ? `ok: ${r.events} events, hash chain whole, every signature by ${r.signer}`
        : `BROKEN at event ${r.firstBreak!.seq}: ${r.firstBreak!.problem} (${r.events} events read; signer ${r.signer})`, r)
      if (!r.ok) process.exitCode = EXIT.ERROR
    })
  audit.command('export <file>')
    .description('write every event as JSON lines (hash, prev and signature included, so the file verifies on its own with the node\'s peer id)')
    .addHelpText('after', '\nExample:\n  $ chainstore audit export audit.jsonl')
    .action(async (file: string) => {
      const n = await ctx.withStore(async s => {
        const trail = trailOf(s)
        const out = await open(file, 'w').catch(err => { throw outputFileError(file, err) })
        const total = (await trail.events({ reverse: true, limit: 1 }).next()).value?.seq ?? 0
        const bar = startProgress('audit export', Math.max(1, total), 'events')
        let count = 0
        try {
          for await (const e of trail.events()) {
            await out.write(JSON.stringify(e) + '\n')
            bar.update(++count)
          }
        } finally { bar.stop(); await out.close() }
        return count
      })
      ctx.print(`wrote ${n} events to ${file}`, { file, events: n })
    })
}
