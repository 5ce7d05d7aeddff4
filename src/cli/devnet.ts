/**
 * `chainstore devnet`: a 3-peer network on 127.0.0.1, each peer in its own
 * process (src/devnet/controller.ts), driven from the profiles in `peers/`.
 * Peer 1 ingests the synthetic chain; the display follows every peer's head.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseConfig, type ChainStoreConfig, type ChainStoreConfigInput } from '../config/index.ts'
import { PeerProcess } from '../devnet/controller.ts'
import type { DevnetManifest, DevnetPeerSpec, DevnetRole } from '../devnet/types.ts'
import { identityIdFromSeed, peerIdFromSeed } from '../replication/keys.ts'
import { note, startDisplay, type Display, type PeerView } from './devnet-display.ts'

/** Where the profiles live: `peers/` beside `src/`. */
export const PEERS_DIR = fileURLToPath(new URL('../../peers/', import.meta.url))
/** The devnet manifest inside the profiles directory. */
export const MANIFEST = 'devnet.json'

export type { DevnetRole, DevnetPeerSpec, DevnetManifest } from '../devnet/types.ts'

export interface ProfileOptions {
  count?: number
  host?: string
  /** libp2p ports are basePort + 1 … basePort + count. */
  basePort?: number
  /** API ports are apiBasePort + 1 … */
  apiBasePort?: number
  dataRoot?: string
  network?: string
  /** How many of the first peers are writers. */
  writers?: number
}

/** Builds the profiles and manifest from seeds `peer-1` … `peer-N`: no id is copied by hand. */
export async function buildProfiles (o: ProfileOptions = {}): Promise<{ manifest: DevnetManifest, profiles: Record<string, ChainStoreConfigInput> }> {
  const count = o.count ?? 3
  const host = o.host ?? '127.0.0.1'
  const basePort = o.basePort ?? 4100
  const apiBasePort = o.apiBasePort ?? 7070
  const dataRoot = o.dataRoot ?? '.chainstore/devnet'
  const network = o.network ?? 'chainstore-devnet'
  const writerCount = o.writers ?? 1
  const names = Array.from({ length: count }, (_, i) => `peer-${i + 1}`)
  const peerIds = await Promise.all(names.map(async n => await peerIdFromSeed(n)))
  const identities = names.map(n => identityIdFromSeed(n))
  const listen = names.map((_, i) => `/ip4/${host}/tcp/${basePort + i + 1}`)
  const writers = identities.slice(0, writerCount)
  const profiles: Record<string, ChainStoreConfigInput> = {}
  const peers: DevnetPeerSpec[] = []
  names.forEach((name, i) => {
    // bootstrap peers only, never the whole network: the first peer and the one started before;
    // discovery finds the rest, and quorum replicas are the connected peers
    const bootstrap = [...new Set([0, i - 1])].filter(j => j >= 0 && j !== i)
    const profile = `${name}.json`
    profiles[profile] = {
      dataDir: `${dataRoot}/${name}`,
      durability: 'process',
      api: { host, port: apiBasePort + i + 1 },
      network: {
        enabled: true,
        name: network,
        seed: name,
        listen: [listen[i]],
        peers: bootstrap.map(j => `${listen[j]}/p2p/${peerIds[j]}`),
        writers,
        intervalMs: 1000
      }
    }
    const writer = i < writerCount
    peers.push({ name, profile, role: writer ? 'writer' : 'replica', writer, pinPreset: 'archive', peerId: peerIds[i], identity: identities[i], listen: listen[i], api: `http://${host}:${apiBasePort + i + 1}` })
  })
  // every profile must load as it is written
  for (const p of Object.values(profiles)) parseConfig(p)
  return { manifest: { network, peers }, profiles }
}

/** Writes `peer-N.json` and `devnet.json` into `dir`; returns the files written. */
export async function writeProfiles (dir: string, o: ProfileOptions = {}): Promise<string[]> {
  const { manifest, profiles } = await buildProfiles(o)
  await mkdir(dir, { recursive: true })
  const written: string[] = []
  for (const [file, cfg] of Object.entries(profiles)) {
    await writeFile(join(dir, file), JSON.stringify(cfg, null, 2) + '\n')
    written.push(join(dir, file))
  }
  await writeFile(join(dir, MANIFEST), JSON.stringify(manifest, null, 2) + '\n')
  written.push(join(dir, MANIFEST))
  return written
}

export interface DevnetOptions {
  /** Directory with devnet.json and the profiles. */
  profiles?: string
  /** Chain length peer 1 ingests up to. */
  blocks: number
  txsPerBlock?: number
  /** Blocks per `ingest` call to peer 1 (one progress step). */
  chunk?: number
  /** Data root overriding the profiles' dataDir: `<dir>/<peer name>`. */
  dir?: string
  /** libp2p ports basePort+1…; 0: random ports (peer 1 starts first, the others get its address); API ports random too. */
  basePort?: number
  /** Run this many peers from generated profiles (bootstrap lists only) instead of the profiles directory's. */
  peers?: number
  /** Wipe the peers' data dirs first. */
  fresh?: boolean
  /** Stop once every peer has the last block. */
  exit?: boolean
  /** With exit: give up (exit code 1) if the peers have not converged this long after the ingest. */
  timeoutMs?: number
  /** Each peer serves its HTTP API and dashboard on its profile's API port. */
  api?: boolean
  logLevel?: string
  json?: boolean
}


export interface DevnetSummary {
  network: string
  target: number
  ingested: { blocks: number, transactions: number, seconds: number, blocksPerSecond: number }
  peers: Array<{ name: string, role: DevnetRole, peerId: string, addresses: string[], api?: string, height: number, cid: string, caughtUpMs: number | null }>
  converged: boolean
  seconds: number
}

function forwardOutput (p: PeerProcess, name: string, log: (line: string) => void): void {
  for (const stream of [p.child.stdout, p.child.stderr]) {
    if (stream == null) continue
    createInterface({ input: stream }).on('line', line => { log(`[${name}] ${line}`) })
  }
}

/** Reads the manifest and the profiles, applying the run's overrides (data root, ports, log level). */
async function loadConfigs (o: DevnetOptions): Promise<{ manifest: DevnetManifest, configs: ChainStoreConfig[] }> {
  const dir = o.profiles ?? PEERS_DIR
  // `--peers N`: N profiles generated as `devnet profiles --count N` would write them
  const generated = o.peers != null ? await buildProfiles({ count: o.peers }) : null
  const manifest: DevnetManifest = generated?.manifest ?? JSON.parse(await readFile(join(dir, MANIFEST), 'utf8'))
  const configs: ChainStoreConfig[] = []
  for (const [i, spec] of manifest.peers.entries()) {
    const cfg = generated != null ? structuredClone(generated.profiles[spec.profile]) as any : JSON.parse(await readFile(join(dir, spec.profile), 'utf8'))
    if (o.dir != null) cfg.dataDir = join(o.dir, spec.name)
    if (o.basePort != null) {
      cfg.network.listen = [`/ip4/127.0.0.1/tcp/${o.basePort === 0 ? 0 : o.basePort + i + 1}`]
      cfg.network.peers = []
      cfg.api = { ...cfg.api, port: 0 }
    }
    if (o.logLevel != null) cfg.logLevel = o.logLevel
    configs.push(parseConfig(cfg))
  }
  if (o.fresh === true) {
    for (const c of configs) await rm(resolve(c.dataDir), { recursive: true, force: true })
  }
  return { manifest, configs }
}

/**
 * Runs the devnet until Ctrl-C (or, with `exit`, until every peer holds the
 * last block). Progress goes to stderr; the summary is returned.
 */
export async function runDevnet (o: DevnetOptions): Promise<DevnetSummary> {
  const { manifest, configs } = await loadConfigs(o)
  return await new DevnetRun(o, manifest, configs).run()
}

/** One devnet run: its peers, the display, and the state the signal handlers and head events share. */
class DevnetRun {
  readonly #o: DevnetOptions
  readonly #manifest: DevnetManifest
  readonly #configs: ChainStoreConfig[]
  readonly #views: PeerView[]
  readonly #target: number
  readonly #started = Date.now()
  readonly #pendingLog: string[] = []
  readonly #ingested = { blocks: 0, transactions: 0, seconds: 0, blocksPerSecond: 0 }
  #display: Display | undefined
  #stopping = false
  #failure: Error | undefined
  #wake: () => void = () => {}

  constructor (o: DevnetOptions, manifest: DevnetManifest, configs: ChainStoreConfig[]) {
    this.#o = o
    this.#manifest = manifest
    this.#configs = configs
    this.#views = manifest.peers.map(spec => ({ spec, height: -1, cid: '', samples: [], addresses: [], peerId: spec.peerId }))
    this.#target = o.blocks - 1
  }

  #log (line: string): void {
    if (this.#display != null) this.#display.log(line)
    else this.#pendingLog.push(line)
  }

  async #woken (): Promise<void> {
    await new Promise<void>(resolve => { this.#wake = resolve })
  }

  async run (): Promise<DevnetSummary> {
    const onSignal = (): void => { this.#stopping = true; this.#wake() }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
    try {
      await this.#startPeers()
      if (this.#stopping) return this.#summarize()
      const display = startDisplay(this.#views, this.#target)
      this.#display = display
      for (const line of this.#pendingLog.splice(0)) display.log(line)
      const timer = setInterval(() => display.tick(this.#views, this.#target, false), 200)
      await this.#ingest()
      const announced = await this.#follow(display)
      clearInterval(timer)
      if (!announced) display.tick(this.#views, this.#target, true)
    } finally {
      this.#stopping = true
      this.#display?.stop()
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
      await Promise.all(this.#views.map(async v => await v.process?.stop().catch(() => {})))
    }
    if (this.#failure != null) throw this.#failure
    return this.#summarize()
  }

  /** Peer 1 first: with overridden ports the others only learn its address once it listens. */
  async #startPeers (): Promise<void> {
    const views = this.#views
    process.stderr.write(`devnet ${this.#manifest.network}: starting ${views.length} peers, each in its own process…\n`)
    await this.#up(0)
    await Promise.all(views.slice(1).map(async (_, i) => { await this.#up(i + 1) }))
    // the later peers know peer 1 (and with the profiles' ports the peer before them): discovery finds the rest
  }

  async #up (i: number): Promise<void> {
    const t = Date.now()
    await this.#startPeer(i)
    const v = this.#views[i]
    process.stderr.write(`  ${v.spec.name} ${v.spec.role.padEnd(7)} ${v.peerId} ${v.addresses[0] ?? ''}${v.api != null ? ` dashboard ${v.api}/` : ''} (up in ${((Date.now() - t) / 1000).toFixed(1)} s${v.height >= 0 ? `, height ${v.height}` : ''})\n`)
  }

  /** Peers dial the addresses in their profile; with overridden ports the others learn the earlier peers' real addresses as they start. */
  async #startPeer (i: number): Promise<void> {
    const v = this.#views[i]
    const cfg = this.#configs[i]
    if (this.#o.basePort != null && i > 0) cfg.network.peers = this.#views[0].addresses.slice(0, 1)
    const p = await PeerProcess.start(cfg, { stdio: 'pipe', api: this.#o.api !== false })
    v.process = p
    forwardOutput(p, v.spec.name, line => { this.#log(line) })
    const info = await p.call('info')
    v.addresses = info.addresses
    v.peerId = info.peerId
    if (info.api != null) v.api = info.api
    const head = await p.call('head')
    if (head != null) note(v, head.height, head.cid)
    p.events.on('head', (h: { height: number, cid: string }) => {
      note(v, h.height, h.cid)
      if (h.height >= this.#target && v.reachedAt == null) v.reachedAt = Date.now()
      this.#wake()
    })
    void p.exited.then(code => {
      if (this.#stopping) return
      this.#failure ??= new Error(`${v.spec.name} exited unexpectedly (${String(code)})`)
      this.#wake()
    })
  }

  /** Ingests on peer 1 in chunks: one progress step per `ingest` call. */
  async #ingest (): Promise<void> {
    const writer = this.#views[0]
    const chunk = this.#o.chunk ?? 20
    const txs = this.#o.txsPerBlock ?? 100
    const t0 = performance.now()
    try {
      while (!this.#stopping && this.#failure == null && writer.height < this.#target) {
        const n = Math.min(chunk, this.#target - writer.height)
        const r = await writer.process!.call('ingest', { count: n, batch: n, txs, seed: 1 })
        if (r.errors.length > 0) throw new Error(`ingest on ${writer.spec.name}: ${r.errors[0].name as string}: ${r.errors[0].message as string}`)
        this.#ingested.blocks += r.stored.length
        this.#ingested.transactions += r.stored.length * txs
        const last = r.stored[r.stored.length - 1]
        if (last != null) note(writer, last.height, last.cid)
      }
    } catch (err) {
      if (!this.#stopping) throw err
    }
    this.#ingested.seconds = (performance.now() - t0) / 1000
    this.#ingested.blocksPerSecond = this.#ingested.blocks / Math.max(this.#ingested.seconds, 1e-9)
    if (writer.height >= this.#target) writer.reachedAt ??= Date.now()
  }

  /** Follows the others until they hold the writer's head (and after, until Ctrl-C); true once all converged. */
  async #follow (display: Display): Promise<boolean> {
    const views = this.#views
    const timeoutMs = this.#o.timeoutMs ?? 300_000
    const deadline = Date.now() + timeoutMs
    let announced = false
    while (!this.#stopping && this.#failure == null) {
      const lead = views[0]
      const caughtUp = views.every(v => v.height >= lead.height && v.cid === lead.cid)
      if (caughtUp && !announced) {
        announced = true
        display.tick(views, this.#target, true)
        const after = views.slice(1).map(v => v.reachedAt != null && lead.reachedAt != null ? `${v.spec.name} +${v.reachedAt - lead.reachedAt} ms` : v.spec.name)
        display.log(`all ${views.length} peers at height ${lead.height} (${lead.cid}); caught up after the writer: ${after.join(', ')}`)
        if (this.#o.exit === true) break
        display.log('following the peers; Ctrl-C to stop')
      }
      if (this.#o.exit === true && Date.now() > deadline) { this.#failure = new Error(`peers did not converge within ${timeoutMs} ms`); break }
      // head events drive the view; a poll now and then covers a missed event
      await Promise.race([this.#woken(), new Promise(resolve => setTimeout(resolve, 1000))])
      await Promise.all(views.map(async v => {
        const h = await v.process?.call('head').catch(() => null)
        if (h != null) note(v, h.height, h.cid)
      }))
    }
    return announced
  }

  #summarize (): DevnetSummary {
    const views = this.#views
    const lead = views[0]
    return {
      network: this.#manifest.network,
      target: this.#target,
      ingested: this.#ingested,
      peers: views.map(v => ({
        name: v.spec.name,
        role: v.spec.role,
        peerId: v.peerId,
        addresses: v.addresses,
        ...(v.api != null ? { api: v.api } : {}),
        height: v.height,
        cid: v.cid,
        caughtUpMs: v.reachedAt != null && lead.reachedAt != null ? Math.max(0, v.reachedAt - lead.reachedAt) : null
      })),
      converged: views.every(v => v.height === lead.height && v.cid === lead.cid && v.height >= 0),
      seconds: (Date.now() - this.#started) / 1000
    }
  }
}
