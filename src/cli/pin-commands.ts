import type { Command } from 'commander'
import type { ChainStore } from '../node/chainstore.ts'
import { PIN_STATES, type PinState } from '../pinning/records.ts'
import { InvalidQueryError } from '../storage/errors.ts'

/** What the pin commands take from the CLI's composition (src/cli/main.ts). */
export interface PinCliContext {
  withStore: <T>(fn: (store: ChainStore) => Promise<T>, overrides?: Record<string, unknown>, options?: { create?: boolean }) => Promise<T>
  print: (human: string, data: unknown) => void
}

/** `chainstore pin ls|add|rm|remote`. */
export function registerPinCommands (program: Command, ctx: PinCliContext): void {
  const pin = program.command('pin').description('list, add and remove pins (a root held for chain, blob or user reasons)')
  pin.command('ls')
    .description('every pin record: root, state (queued, pinning, pinned, failed), reasons, whole DAG or root only, height')
    .option('--state <state>', `only records in this state (${PIN_STATES.join(', ')})`)
    .addHelpText('after', '\nExamples:\n  $ chainstore pin ls --json\n  $ chainstore pin ls --state failed')
    .action(async (opts: { state?: string }) => {
      if (opts.state != null && !(PIN_STATES as readonly string[]).includes(opts.state)) throw new InvalidQueryError(`--state: expected one of ${PIN_STATES.join(', ')}, got ${opts.state}`)
      const state = opts.state as PinState | undefined
      const list = await ctx.withStore(async s => { const out = []; for await (const p of s.pins({ state })) out.push(p); return out })
      ctx.print(list.map(p => `${p.cid.toString()}  ${p.state.padEnd(7)}  ${p.reasons.join(',')}  ${p.recursive ? 'dag' : 'root'}${p.height != null ? `  height ${p.height}` : ''}${p.error != null ? `  (${p.error})` : ''}`).join('\n') || 'no pins', list)
    })
  pin.command('add <cid>')
    .description('pin a root for the user (its whole DAG unless --root-only); missing blocks are fetched from peers or gateways and verified')
    .option('--root-only', 'hold the root block alone')
    .option('--background', 'return once the pin is queued; `pin ls` shows it go pinning → pinned (or failed), and a running node resumes it after a restart')
    .addHelpText('after', '\nExamples:\n  $ chainstore pin add bafy... --root-only\n  $ chainstore pin add bafy... --background --json')
    .action(async (cid: string, opts: { rootOnly?: boolean, background?: boolean }) => {
      // the pin's retries wait on unref'd timers (a library must not hold its embedder's process open): the command holds it until the pin settles
      const alive = setInterval(() => {}, 1000)
      let record
      try {
        record = await ctx.withStore(async s => await s.pin(cid, { recursive: opts.rootOnly !== true, wait: opts.background !== true }), {}, { create: true })
      } finally { clearInterval(alive) }
      ctx.print(`${record.state} ${record.cid.toString()} (${record.reasons.join(',')})`, record)
    })
  pin.command('rm <cid>')
    .description("drop the user's hold on a root (chain and blob holds stay; gc frees what nothing holds)")
    .addHelpText('after', '\nExample:\n  $ chainstore pin rm bafy...')
    .action(async (cid: string) => {
      const removed = await ctx.withStore(async s => await s.unpin(cid))
      ctx.print(removed ? `unpinned ${cid}` : `${cid} was not pinned by the user`, { cid, removed })
    })

  pin.command('remote')
    .description('where each root pinned here stands at the remote pinning services (config remotePinning): queued, pinning, pinned, failed, or unsent (retried)')
    .option('--refresh', 'ask the services now instead of showing the last answers')
    .addHelpText('after', '\nExample:\n  $ chainstore pin remote --refresh --json')
    .action(async (opts: { refresh?: boolean }) => {
      const list = await ctx.withStore(async s => await s.remotePins({ refresh: opts.refresh === true }))
      ctx.print(list.length === 0
        ? 'no remote pins (config remotePinning.services names the services)'
        : list.map(r => `${r.service.padEnd(12)} ${r.status.padEnd(8)} ${r.cid}${r.error != null ? `  (${r.error})` : ''}`).join('\n'), list)
    })
}
