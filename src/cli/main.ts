#!/usr/bin/env node
import { spawn } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Command, CommanderError, Option } from 'commander'
import { loadConfig, type ChainStoreConfig } from '../config/index.ts'
import { createLogger, type LogFormat, type Logger } from '../logger.ts'
import { CONFIG_FILE_NAME, nodePlaces, nonEmpty } from './home.ts'
import { buildInfo } from '../build-info.ts'
import { ChainStore } from '../node/chainstore.ts'
import { startReadApi } from '../api/server.ts'
import { ingestSynthetic } from './demo.ts'
import { toJson } from '../codec/json.ts'
import { formatBytes, formatCount } from './format.ts'
import { startProgress, type Progress } from './progress.ts'
import { showSyncProgress } from './sync-progress.ts'
import { registerMaintenanceCommands } from './maintenance.ts'
import { registerNetworkCommands } from './network-commands.ts'
import { registerFileCommands } from './file-commands.ts'
import { registerNodeCommands } from './node-commands.ts'
import { onStopSignals } from './signals.ts'
import { registerAuditCommands } from './audit-commands.ts'
import { registerPinCommands } from './pin-commands.ts'
import { ConfigExistsError } from './errors.ts'
import { InvalidQueryError } from '../storage/errors.ts'
import { assertStoreExists, collect, intOption, outputFileError, readJsonFile, typedFsError, withNetworkOptions } from './input.ts'

/** Exit codes, documented in docs/OPERATIONS.md's table (one test, test/cli-errors.test.ts, drives each). */
export { EXIT } from './exit.ts'
import { EXIT } from './exit.ts'
import { backgroundNiceFromEnv, lowerBackgroundThreads } from '../threads.ts'

const PACKAGE_VERSION = buildInfo().version

interface GlobalOptions { config?: string, dataDir?: string, json?: boolean, logLevel?: string, logFormat?: LogFormat }

const program = new Command()
  .name('chainstore')
  .description('Content-addressed, indexed storage for blockchain P2P nodes')
  .option('-c, --config <file>', 'JSON config file (default: <home>/config.json when it exists; keys: docs/CONFIG.md)')
  .option('-d, --data-dir <dir>', 'data directory and node home (default: $CHAINSTORE_PATH or ~/.chainstore)')
  .option('--json', 'machine-readable JSON on stdout')
  .addOption(new Option('--log-level <level>', 'log level on stderr (default: CHAINSTORE_LOG_LEVEL, config logLevel, else warn; start: info)').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']))
  .addOption(new Option('--log-format <format>', 'log lines on stderr: pretty (default on a TTY) or json (default otherwise; CHAINSTORE_LOG_FORMAT)').choices(['pretty', 'json']))
  .version(PACKAGE_VERSION, '-V, --version', 'print the package version')
  .showHelpAfterError()
  // usage errors throw (CommanderError) instead of exiting 1, so they get the bad-input code; subcommands inherit it
  .exitOverride()
  // commander's own messages carry the error name too, like every other error on stderr
  .configureOutput({ outputError: (str, write) => { write(str.replace(/^error: /, 'error: UsageError: ')) } })

function globals (): GlobalOptions { return program.opts<GlobalOptions>() }

/** The config of this run: flags, then CHAINSTORE_* variables, then the config file, then the node home (src/cli/home.ts). */
async function config (overrides: Record<string, unknown> = {}): Promise<ChainStoreConfig> {
  const g = globals()
  const places = nodePlaces(g)
  return await loadConfig({ file: places.configFile, overrides: { ...(g.dataDir != null ? { dataDir: g.dataDir } : {}), ...overrides }, defaults: { dataDir: places.home } })
}

/**
 * The CLI's logger: level from --log-level, CHAINSTORE_LOG_LEVEL, the
 * config's logLevel, else `fallback`; pretty lines on a TTY, JSON otherwise
 * (--log-format or CHAINSTORE_LOG_FORMAT say which).
 */
function cliLogger (cfg: ChainStoreConfig, fallback: string): Logger {
  const g = globals()
  const level = g.logLevel ?? nonEmpty(process.env.CHAINSTORE_LOG_LEVEL) ?? cfg.logLevel ?? fallback
  const envFormat = process.env.CHAINSTORE_LOG_FORMAT
  const format: LogFormat = g.logFormat ?? (envFormat === 'json' || envFormat === 'pretty' ? envFormat : process.stderr.isTTY === true ? 'pretty' : 'json')
  return createLogger({ level, format })
}

/**
 * Opens the store, runs `fn`, stops it. Only commands that create a store
 * (`create`: init, start, block put, pin add, peers) may open a data dir that
 * holds none; the others get DataDirNotFoundError instead of an empty store.
 */
async function withStore<T> (fn: (store: ChainStore) => Promise<T>, overrides: Record<string, unknown> = {}, options: { create?: boolean } = {}): Promise<T> {
  const cfg = await config(overrides)
  if (options.create !== true) await assertStoreExists(cfg.dataDir)
  const store = await ChainStore.open(cfg, cliLogger(cfg, 'warn'))
  try { return await fn(store) } finally { await store.stop() }
}

function print (human: string, data: unknown): void {
  process.stdout.write((globals().json === true ? toJson(data, 2) : human) + '\n')
}

program.command('init')
  .description('create the node home: the data directory and a config file with every default in it (found there without -c)')
  .option('-o, --out <file>', 'config file to write (default: <home>/config.json)')
  .option('-f, --force', 'overwrite a config file that exists')
  .addHelpText('after', '\nThe home is -d, else $CHAINSTORE_PATH, else ~/.chainstore.\nExamples:\n  $ chainstore init                                  # ~/.chainstore/config.json\n  $ CHAINSTORE_PATH=/var/lib/chainstore chainstore init\n  $ chainstore init -d /var/lib/chainstore -o /etc/chainstore.json')
  .action(async (opts: { out?: string, force?: boolean }) => {
    const cfg = await config()
    const out = opts.out ?? join(nodePlaces(globals()).home, CONFIG_FILE_NAME)
    if (opts.force !== true && existsSync(out) && statSync(out).isFile()) throw new ConfigExistsError(`${out} exists (this home is initialised); edit it with chainstore config set, or pass --force to overwrite it with defaults`)
    await mkdir(dirname(out), { recursive: true }).catch(err => { throw outputFileError(out, err) })
    await writeFile(out, JSON.stringify(cfg, null, 2) + '\n').catch(err => { throw outputFileError(out, err) })
    await withStore(async () => {}, {}, { create: true })
    print(`wrote ${out}; data dir ${cfg.dataDir} ready`, { config: out, dataDir: cfg.dataDir })
  })

program.command('start')
  .description('open the store and serve the read API until Ctrl-C; --demo first ingests a synthetic chain; --peer joins a network')
  .option('--demo', 'ingest a synthetic chain (100-500 tx per block, 3,000 addresses) before serving')
  .option('--blocks <n>', 'demo: chain length to reach', intOption(1), 2000)
  .option('--port <port>', 'read API port (overrides config)', intOption(0, 65535))
  .option('--exit', 'exit after the demo ingest instead of serving')
  .option('--peer <multiaddr>', 'join a network: dial this peer (/ip4/…/tcp/…/p2p/<id>) and replicate; repeatable', collect, [])
  .option('--writer <identity>', 'identity id (66 hex) allowed to append blocks, added to network.writers; repeatable', collect, [])
  .option('--listen <multiaddr>', 'libp2p listen address (default /ip4/127.0.0.1/tcp/0)')
  .addHelpText('after', [
    '',
    'Examples:',
    '  $ chainstore start --demo            # what npm run start:single runs',
    '  $ chainstore -c node.json start --port 8080',
    '  $ chainstore -d .chainstore/joiner start --port 7080 \\',
    '      --peer /ip4/127.0.0.1/tcp/4101/p2p/<peer-1 id> --writer <peer-1 identity>   # join the devnet (ids in peers/devnet.json)'
  ].join('\n'))
  .action(async (opts: { demo?: boolean, blocks: number, port?: number, exit?: boolean, peer: string[], writer: string[], listen?: string }) => {
    const overrides: Record<string, unknown> = {}
    if (opts.port != null) overrides.api = { port: opts.port }
    const cfg = withNetworkOptions(await config(overrides), opts)
    const logger = cliLogger(cfg, 'info')
    const store = await ChainStore.open(cfg, logger)
    // the node's event loop (reads, the API) before LevelDB's and V8's background threads (src/threads.ts)
    const background = lowerBackgroundThreads(backgroundNiceFromEnv())
    let stopping = false
    let stopSyncProgress = (): void => {}
    const shutdown = async (): Promise<void> => {
      if (stopping) return
      stopping = true
      stopSyncProgress()
      background.stop()
      // a stop that outlasts its grace aborts OrbitDB's network reads, and an
      // aborted read can reject inside OrbitDB where nothing catches it: on the
      // way out that is not a failure of the node (see Replicator.stop)
      process.on('unhandledRejection', err => { logger.debug({ err: (err as Error)?.message }, 'rejection while stopping') })
      await api?.close()
      await store.stop()
      process.exit(EXIT.OK)
    }
    let api: Awaited<ReturnType<typeof startReadApi>> | undefined
    // the first Ctrl-C (or SIGTERM) stops cleanly; a second one while stopping forces the exit
    onStopSignals(shutdown)
    if (opts.demo === true) {
      const target = opts.blocks - 1
      const s = await ingestSynthetic(store, { targetHeight: target })
      const status = await store.status()
      print([
        `stored ${formatCount(s.blocks)} blocks, ${formatCount(s.transactions)} transactions in ${s.seconds.toFixed(1)} s (${s.generateSeconds.toFixed(1)} s of it generating the synthetic chain)`,
        `  store: ${formatCount(s.blocksPerSecond)} blocks/s, ${formatCount(s.txPerSecond)} tx/s`,
        `  head ${status.head?.height ?? '-'} ${status.head?.cid.toString() ?? ''}`,
        `  data dir ${cfg.dataDir} (${formatBytes(status.approximateBytes)} on disk)`
      ].join('\n'), { ingest: s, status })
    }
    if (opts.exit === true) { await shutdown(); return }
    api = await startReadApi(store, { host: cfg.api.host, port: cfg.api.port, logger })
    const head = store.head()
    const example = head != null ? `\n  try: curl ${api.url}/blocks/${head.height}` : ''
    const rep = store.replication
    const network = rep != null
      ? `\n  peer ${rep.peerId} on ${rep.addresses().join(', ')}; ${(await rep.peers()).length} peer(s) connected (chainstore peers to list them)`
      : ''
    print(`serving reads on ${api.url} (Ctrl-C to stop); dashboard ${api.url}/${example}${network}`, { api: api.url, ...(rep != null ? { peerId: rep.peerId, identity: rep.identityId, addresses: rep.addresses() } : {}) })
    // catching up with the network shows progress (and says when it is in sync)
    if (rep != null) stopSyncProgress = showSyncProgress(store)
  })

registerNetworkCommands(program, { config, withStore, print, globals, withNetworkOptions, collect })

const block = program.command('block').description('store and read blocks')
block.command('put <file>')
  .description('store a block (or an array of blocks) from a JSON file')
  .addHelpText('after', '\nThe JSON has the BlockInput shape (docs/DATA-MODEL.md): numbers, 0x-hex strings, CID strings.\nExample:\n  $ chainstore block put block-12.json')
  .action(async (file: string) => {
    const parsed = await readJsonFile(file)
    const blocks = Array.isArray(parsed) ? parsed : [parsed]
    const stored = await withStore(async s => await s.storeBlocks(blocks), {}, { create: true })
    print(stored.map(b => `${b.created ? 'stored' : 'already stored'} block ${b.height} ${b.cid.toString()} (${b.txIds.length} transactions)`).join('\n'), stored)
  })
block.command('get <ref>')
  .description('read a block by height or CID')
  .addHelpText('after', '\nExamples:\n  $ chainstore block get 42\n  $ chainstore --json block get bafyrei...')
  .action(async (ref: string) => {
    const b = await withStore(async s => await s.getBlock(/^\d+$/.test(ref) ? Number(ref) : ref))
    print([
      `block ${b.header.height} ${b.cid.toString()}`,
      `  parent    ${b.header.parent?.toString() ?? '-'}`,
      `  time      ${new Date(b.header.timestamp).toISOString()}`,
      `  proposer  ${b.header.proposer}`,
      `  stateRoot ${b.header.stateRoot}`,
      `  txs       ${b.header.txCount} in ${b.header.txPages.length} page(s)`,
      ...b.txIds.slice(0, 5).map((id, i) => `    ${id.toString()} ${b.transactions[i].from} -> ${b.transactions[i].to ?? '(create)'}`),
      b.txIds.length > 5 ? `    … ${b.txIds.length - 5} more` : ''
    ].filter(Boolean).join('\n'), b)
  })

program.command('tx').description('read transactions').command('get <id>')
  .description('read a transaction (and its receipt) by id')
  .addHelpText('after', '\nExample:\n  $ chainstore tx get bafyrei...')
  .action(async (id: string) => {
    const { tx, receipt } = await withStore(async s => {
      const tx = await s.getTransaction(id)
      const receipt = await s.getReceipt(id).catch((err: Error) => { if (err.name === 'ReceiptNotFoundError') return undefined; throw err })
      return { tx, receipt }
    })
    const t = tx.transaction
    print([
      `transaction ${tx.id.toString()}`,
      `  block     ${tx.height} ${tx.blockCid.toString()} (page ${tx.page}, position ${tx.position}, index ${tx.index})`,
      `  from      ${t.from}`,
      `  to        ${t.to ?? '(contract creation)'}`,
      `  value     ${t.value.toString()}`,
      `  nonce     ${t.nonce}, gas limit ${t.gasLimit}, gas price ${t.gasPrice.toString()}`,
      receipt != null ? `  receipt   status ${receipt.receipt.status}, gas used ${receipt.receipt.gasUsed}, ${receipt.receipt.logs.length} log(s)` : '  receipt   none stored'
    ].join('\n'), { ...tx.toJSON(), receipt: receipt?.receipt })
  })

program.command('history <address>')
  .description('transactions an address sent or received, paginated')
  .option('-l, --limit <n>', 'entries per page (1-1000)', '20')
  .option('--cursor <cursor>', 'cursor printed by the previous page')
  .option('-r, --reverse', 'newest first')
  .addHelpText('after', '\nExample:\n  $ chainstore history 0xab...cd --limit 50 --reverse')
  .action(async (address: string, opts: { limit: string, cursor?: string, reverse?: boolean }) => {
    const page = await withStore(async s => await s.getAddressHistory(address, { limit: Number(opts.limit), cursor: opts.cursor, reverse: opts.reverse === true }))
    print([
      ...page.items.map(i => `${String(i.height).padStart(8)}  ${i.id.toString()}  ${i.transaction.from === address.toLowerCase() ? 'out' : 'in '}  ${i.transaction.value.toString()}`),
      page.items.length === 0 ? 'no transactions' : '',
      page.cursor != null ? `next page: --cursor ${page.cursor}` : ''
    ].filter(Boolean).join('\n'), page)
  })

program.command('status')
  .description('head, cache and disk figures (asks the running node when one holds the data dir)')
  .addHelpText('after', '\nExample:\n  $ chainstore status --json')
  .action(async () => {
    const cfg = await config()
    let status: any
    try {
      status = await withStore(async s => await s.status())
    } catch (err) {
      if ((err as Error).name !== 'StoreLockedError') throw err
      const res = await fetch(`http://${cfg.api.host}:${cfg.api.port}/status`).catch(() => undefined)
      if (res == null || !res.ok) throw err
      status = await res.json()
    }
    const cid = typeof status.head?.cid === 'string' ? status.head.cid : status.head?.cid?.toString()
    print([
      `data dir    ${status.dataDir}`,
      `head        ${status.head != null ? `${status.head.height} ${cid}` : 'empty'}`,
      `durability  ${status.durability}`,
      `finalized   ${status.finalized >= 0 ? status.finalized : 'none'}`,
      `disk        ${formatBytes(status.approximateBytes)} (blockstore ${formatBytes(status.blockstoreBytes)})`,
      `cache       ${formatBytes(status.cache.bytes)} of ${formatBytes(status.cache.maxBytes)}, ${status.cache.hits} hits, ${status.cache.misses} misses`,
      `fetched     ${status.fetchCache.entries} blocks, ${formatBytes(status.fetchCache.bytes)} of ${formatBytes(status.fetchCache.maxBytes)}, ${status.fetchCache.hits} hits, ${status.fetchCache.evicted} evicted`,
      `pins        ${status.pins.queued} queued, ${status.pins.pinning} pinning, ${status.pins.failed} failed`,
      ...(status.network != null
        ? [
            `network     ${status.network.peerId}, ${status.network.connectedPeers} peers connected${status.network.discovery != null ? `, ${status.network.discovery.known} known through discovery` : ''}, ${status.network.lag} heights behind the chain index`,
            ...Object.entries(status.network.databases ?? {}).map(([name, address]) => `  ${name.padEnd(10)} ${String(address)}`)
          ]
        : [])
    ].join('\n'), status)
  })

registerPinCommands(program, { withStore, print })

const attest = program.command('attest').description('validator attestations (config attestations.enabled; master key from attestations.masterKeyFile or $CHAINSTORE_MASTER_KEY)')
/** The attestation store of an opened node, or a usage error saying how to turn it on. */
function attestationsOf (s: ChainStore): NonNullable<ChainStore['attestations']> {
  if (s.attestations == null) throw new InvalidQueryError('attestations are off: set attestations.enabled and a master key (attestations.masterKeyFile or $CHAINSTORE_MASTER_KEY)')
  return s.attestations
}
attest.command('export <validator>')
  .description("everything this node holds about a validator (the access right): records, aggregates, decrypted payloads while its key exists, any erasure record")
  .addHelpText('after', '\nExamples:\n  $ chainstore attest export validator-7 --json > validator-7.json')
  .action(async (validator: string) => {
    const out = await withStore(async s => await attestationsOf(s).exportValidator(validator))
    print([
      `validator   ${validator}`,
      `records     ${out.attestations.length}`,
      `data key    ${out.dataKeyHeld ? 'held here' : 'not held here'}`,
      out.erasure != null ? `erased      ${new Date(out.erasure.erasedAt).toISOString()}` : '',
      'use --json for the full export'
    ].filter(Boolean).join('\n'), out)
  })
attest.command('erase <validator>')
  .description("crypto-shred a validator: destroy its data key here, drop its records and payload pins, and (with replication on) publish an erasure record every peer applies")
  .addHelpText('after', '\nExample:\n  $ chainstore -c node.json attest erase validator-7')
  .action(async (validator: string) => {
    const r = await withStore(async s => {
      const result = await attestationsOf(s).erase(validator)
      await s.replication?.attestationLog?.idle()
      return result
    })
    print(`erased ${validator}: ${r.records} records, ${r.payloads} payloads, data key ${r.keyDestroyed ? 'destroyed' : 'was not held here'}`, r)
  })
attest.command('sweep')
  .description('apply the retention policy now (a running node sweeps every attestations.sweepIntervalMs)')
  .addHelpText('after', '\nExample:\n  $ chainstore attest sweep --json')
  .action(async () => {
    const r = await withStore(async s => await attestationsOf(s).sweep())
    print(`swept: ${JSON.stringify(r)}`, r)
  })

program.command('gc')
  .description('delete every block no pin, fetch-cache entry or replicated log holds, then compact; prints what was freed')
  .option('--no-compact', 'skip compacting the blockstore afterwards (LevelDB frees the space at its next compaction)')
  .addHelpText('after', '\nExamples:\n  $ chainstore gc\n  $ chainstore -c peers/peer-2.json gc --json   # with replication on, its logs are kept\n\nA running node collects on its own when config gc.storageMaxBytes is set (at gc.watermarkPercent of it).')
  .action(async (opts: { compact: boolean }) => {
    let bar: Progress | undefined
    let phase = ''
    const summary = await withStore(async s => await s.gc({
      compact: opts.compact,
      onProgress: p => {
        if (p.phase !== phase) { bar?.stop(); phase = p.phase; bar = startProgress(`gc ${p.phase}`, Math.max(1, p.total), 'blocks') }
        bar!.update(p.done)
      }
    }))
    bar?.stop()
    print([
      `scanned     ${summary.scanned.toLocaleString('en-US')} blocks`,
      `kept        ${summary.marked.toLocaleString('en-US')} blocks`,
      `deleted     ${summary.deleted.toLocaleString('en-US')} blocks, ${formatBytes(summary.bytesFreed)}`,
      `incomplete  ${summary.incompletePins} pins with a missing block${summary.incompletePins > 0 ? ' (run verify)' : ''}`,
      `took        ${Math.round(summary.ms)} ms${summary.compactMs != null ? ` + ${Math.round(summary.compactMs)} ms compaction` : ''}`
    ].join('\n'), summary)
  })

program.command('version')
  .description('print the package version and the commit it was built from')
  .action(() => { const b = buildInfo(); print(`chainstore ${b.version} (commit ${b.commit.slice(0, 12)})`, b) })

program.command('bench')
  .description('run the benchmark suite (same as npm run bench); figures go to bench/results/')
  .option('--name <name>', 'name of the results file', 'cli')
  .addHelpText('after', '\nExample:\n  $ chainstore bench --name my-laptop')
  .action(async (opts: { name: string }) => {
    // the suite lives in bench/ beside src/; a child process keeps its peak-RSS figures its own
    const script = fileURLToPath(new URL('../../bench/run.ts', import.meta.url))
    // the installed package ships no bench/: it runs from a source checkout only
    if (!existsSync(script)) throw new Error('the benchmark suite runs from a source checkout of chainstore (npm run bench); the installed package does not ship it')
    const code = await new Promise<number>((resolve, reject) => {
      spawn(process.execPath, [script, '--name', opts.name], { stdio: 'inherit' }).once('error', reject).once('exit', c => { resolve(c ?? EXIT.ERROR) })
    })
    if (code !== 0) process.exit(code)
  })

registerFileCommands(program, { withStore, print })
registerNodeCommands(program, { config, globals, print })
registerAuditCommands(program, { withStore, print })
registerMaintenanceCommands(program, { withStore, print, config })

/** The exit code (docs/OPERATIONS.md) of an error, by its stable name. */
function exitCodeOf (err: Error): number {
  if (err instanceof CommanderError) return EXIT.USAGE
  if (/NotFound/.test(err.name)) return EXIT.NOT_FOUND
  if (err.name === 'StoreLockedError') return EXIT.LOCKED
  if (err.name === 'StoreReadOnlyError') return EXIT.READ_ONLY
  if (/^Invalid|TooLarge/.test(err.name)) return EXIT.USAGE
  return EXIT.ERROR
}

try {
  await program.parseAsync(process.argv)
} catch (err) {
  const e = typedFsError(err) as Error
  // --help and --version end through the same override, with code 0
  if (e instanceof CommanderError && e.exitCode === 0) process.exit(EXIT.OK)
  const name = e instanceof CommanderError ? 'UsageError' : e.name
  const message = e instanceof CommanderError ? e.message.replace(/^error: /, '') : e.message
  // commander has already written its own usage errors to stderr
  if (!(e instanceof CommanderError)) process.stderr.write(`error: ${name}: ${message}\n`)
  // scripts read the error from stdout; stderr says it to a person watching
  if (globals().json === true) process.stdout.write(toJson({ error: name, message, exitCode: exitCodeOf(e) }) + '\n')
  process.exit(exitCodeOf(e))
}
