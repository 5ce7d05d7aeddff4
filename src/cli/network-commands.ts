import type { Command } from 'commander'
import { parseConfig, type ChainStoreConfig } from '../config/index.ts'
import type { ChainStore } from '../node/chainstore.ts'
import type { PeerInfo } from '../replication/replicator.ts'
import { PEERS_DIR, runDevnet, writeProfiles } from './devnet.ts'
import { EXIT } from './exit.ts'
import { formatCount } from './format.ts'
import { intOption } from './input.ts'

/** What the network commands use of the CLI's global options. */
export interface NetworkCliContext {
  config: (overrides?: Record<string, unknown>) => Promise<ChainStoreConfig>
  withStore: <T>(fn: (store: ChainStore) => Promise<T>, overrides?: Record<string, unknown>, options?: { create?: boolean }) => Promise<T>
  print: (human: string, data: unknown) => void
  globals: () => { logLevel?: string, json?: boolean }
  withNetworkOptions: (cfg: ChainStoreConfig, opts: { peer: string[], writer: string[], listen?: string }) => ChainStoreConfig
  collect: (value: string, previous: string[]) => string[]
}

/** `chainstore peers` and `chainstore devnet [profiles]`. */
export function registerNetworkCommands (program: Command, ctx: NetworkCliContext): void {
  registerPeers(program, ctx)
  registerDevnet(program, ctx)
}

interface PeersOptions { peer: string[], wait: number, port?: number }

function registerPeers (program: Command, ctx: NetworkCliContext): void {
  program.command('peers')
    .description('connected peers with their reputation')
    .option('--peer <multiaddr>', 'also dial this peer; repeatable', ctx.collect, [])
    .option('--wait <ms>', 'how long to wait for connections when this command runs the node itself', intOption(0), 2000)
    .option('--port <port>', 'API port of the node holding the data dir (default: the config\'s api.port)', intOption(0, 65535))
    .addHelpText('after', [
      '',
      'When a node holds the data dir, asks it over its API port (GET /peers; the devnet serves it).',
      'Otherwise starts the node with replication on, dials the configured peers and --peer,',
      'waits --wait ms and lists who connected.',
      '',
      'Examples:',
      '  $ chainstore -c peers/peer-2.json peers          # while npm start runs',
      '  $ chainstore --json peers --peer /ip4/127.0.0.1/tcp/4101/p2p/<id>'
    ].join('\n'))
    .action(async (opts: PeersOptions) => { await peers(ctx, opts) })
}

/** Lists the peers: this process runs the node, or asks the node that holds the data dir over its API. */
async function peers (ctx: NetworkCliContext, opts: PeersOptions): Promise<void> {
  const { config, withStore, print, withNetworkOptions } = ctx
  const cfg = withNetworkOptions(await config(opts.port != null ? { api: { port: opts.port } } : {}), { peer: opts.peer, writer: [], listen: undefined })
  let list: PeerInfo[]
  let self: { peerId: string, source: 'node' | 'running node' } | undefined
  try {
    const net = parseConfig({ ...cfg, network: { ...cfg.network, enabled: true } })
    list = await withStore(async s => {
      const rep = s.replication!
      const end = Date.now() + opts.wait
      await Promise.all(net.network.peers.map(async a => { await rep.dial(a).catch(() => {}) }))
      while (Date.now() < end) await new Promise(resolve => setTimeout(resolve, 100))
      self = { peerId: rep.peerId, source: 'node' }
      return await rep.peers()
    }, { network: net.network }, { create: true })
  } catch (err) {
    if ((err as Error).name !== 'StoreLockedError') throw err
    const res = await fetch(`http://${cfg.api.host}:${cfg.api.port}/peers`).catch(() => undefined)
    if (res == null || !res.ok) {
      const e = new Error(`${(err as Error).message}; the node holding it does not answer GET http://${cfg.api.host}:${cfg.api.port}/peers`)
      e.name = 'StoreLockedError'
      throw e
    }
    list = await res.json() as typeof list
    self = { peerId: '', source: 'running node' }
  }
  list.sort((a, b) => b.reputation - a.reputation || (a.peerId < b.peerId ? -1 : 1))
  const rows = list.map(p => `${p.peerId}  ${p.reputation.toFixed(2).padStart(10)}  ${String(p.observers).padStart(9)}  ${String(p.head?.height ?? '-').padStart(8)}  ${String(p.lag ?? '-').padStart(5)}  ${p.banned ? 'banned' : 'ok    '}  ${p.addresses.join(', ')}`)
  print([
    list.length === 0 ? 'no peers connected' : `${'peer id'.padEnd(list[0].peerId.length)}  reputation  observers      head    lag  status  addresses`,
    ...rows
  ].join('\n'), { peers: list, ...(self?.peerId !== '' ? { self: self?.peerId } : {}) })
}

function registerDevnet (program: Command, ctx: NetworkCliContext): void {
  const { print, globals } = ctx
  const devnet = program.command('devnet')
    .description('3 peers on 127.0.0.1, each in its own process: peer 1 ingests a synthetic chain, the others catch up (npm start)')
    .option('--blocks <n>', 'chain length peer 1 ingests up to', intOption(1), 2000)
    .option('--txs <n>', 'transactions per block', intOption(1), 100)
    .option('--exit', 'stop once every peer holds the last block (exit code 1 if they do not converge in --timeout)')
    .option('--timeout <s>', 'with --exit: seconds to wait for the peers after the ingest', intOption(1), 300)
    .option('--fresh', 'wipe the peers\' data dirs first')
    .option('--dir <path>', 'data root instead of the profiles\' .chainstore/devnet: <path>/peer-N')
    .option('--base-port <n>', 'libp2p ports n+1… instead of the profiles\'; 0 = random free ports; API ports become random too', intOption(0, 65000))
    .option('--profiles <dir>', 'directory with devnet.json and the peer profiles', PEERS_DIR)
    .option('--peers <n>', 'run n peers from generated profiles (each names only bootstrap peers; discovery finds the rest) instead of --profiles', intOption(1, 100))
    .option('--no-api', 'peers do not serve their HTTP API and dashboard on the profiles\' API ports')
    .addHelpText('after', [
      '',
      'Progress goes to stderr (a bar per peer on a terminal, a line a second otherwise);',
      'the summary to stdout when the devnet stops (Ctrl-C, or --exit).',
      '',
      'Examples:',
      '  $ chainstore devnet --fresh                    # what npm start runs',
      '  $ chainstore --json devnet --exit --blocks 200 --base-port 0 --dir /tmp/devnet',
      '  $ chainstore devnet --peers 12 --base-port 0 --dir /tmp/devnet12 --no-api',
      '  $ chainstore devnet profiles                   # regenerate peers/*.json'
    ].join('\n'))
    .action(async (opts: { blocks: number, txs: number, exit?: boolean, timeout: number, fresh?: boolean, dir?: string, basePort?: number, profiles: string, peers?: number, api: boolean }) => {
      const g = globals()
      const s = await runDevnet({
        profiles: opts.profiles,
        peers: opts.peers,
        blocks: opts.blocks,
        txsPerBlock: opts.txs,
        exit: opts.exit === true,
        timeoutMs: opts.timeout * 1000,
        fresh: opts.fresh === true,
        dir: opts.dir,
        basePort: opts.basePort,
        api: opts.api,
        logLevel: g.logLevel
      })
      const lead = s.peers[0]
      print([
        `devnet ${s.network} stopped after ${s.seconds.toFixed(1)} s: ${s.converged ? `all ${s.peers.length} peers at height ${lead.height}` : 'peers NOT converged'}`,
        `  ingested ${formatCount(s.ingested.blocks)} blocks (${formatCount(s.ingested.transactions)} transactions) on ${lead.name} in ${s.ingested.seconds.toFixed(1)} s, ${formatCount(s.ingested.blocksPerSecond)} blocks/s`,
        ...s.peers.map(p => `  ${p.name.padEnd(7)} ${p.role.padEnd(7)} height ${String(p.height).padStart(6)}  ${p.cid}${p.caughtUpMs != null && p !== lead ? `  caught up ${p.caughtUpMs} ms after ${lead.name}` : ''}`)
      ].join('\n'), s)
      if (opts.exit === true && !s.converged) process.exit(EXIT.ERROR)
    })

  devnet.command('profiles')
    .description('regenerate the devnet profiles (peer-N.json, devnet.json) with ids derived from the seeds peer-1…peer-N')
    .option('-o, --out <dir>', 'directory to write', PEERS_DIR)
    .option('--count <n>', 'number of peers', intOption(1, 100), 3)
    // not --base-port: the devnet command's options are parsed wherever they appear
    .option('--listen-base <n>', 'libp2p ports n+1…', intOption(0, 65000), 4100)
    .option('--api-base <n>', 'API ports n+1…', intOption(0, 65000), 7070)
    .option('--data-root <dir>', 'data dirs <dir>/peer-N', '.chainstore/devnet')
    .action(async (opts: { out: string, count: number, listenBase: number, apiBase: number, dataRoot: string }) => {
      const files = await writeProfiles(opts.out, { count: opts.count, basePort: opts.listenBase, apiBasePort: opts.apiBase, dataRoot: opts.dataRoot })
      print(files.map(f => `wrote ${f}`).join('\n'), { files })
    })
}
