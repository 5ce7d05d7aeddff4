/**
 * `chainstore devnet`: a 3-peer network on 127.0.0.1, each peer in its own
 * process (src/devnet/controller.ts), driven from the profiles in `peers/`.
 * Peer 1 ingests the synthetic chain; the display follows every peer's head.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import cliProgress from 'cli-progress'
import { parseConfig, type ChainStoreConfig, type ChainStoreConfigInput } from '../config/index.ts'
import { PeerProcess } from '../devnet/controller.ts'
import { identityIdFromSeed, peerIdFromSeed } from '../replication/keys.ts'

/** Where the profiles live: `peers/` beside `src/`. */
export const PEERS_DIR = fileURLToPath(new URL('../../peers/', import.meta.url))
/** The devnet manifest inside the profiles directory. */
export const MANIFEST = 'devnet.json'

/** Role of a devnet peer: a writer is in `network.writers` and ingests; a replica follows and confirms. */
export type DevnetRole = 'writer' | 'replica'

/**
 * Devnet-only facts about a peer that the (strict) config schema has no field
 * for, kept in `peers/devnet.json` beside the profiles.
 */
export interface DevnetPeerSpec {
  name: string
  /** Config file of the peer, relative to the manifest. */
  profile: string
  role: DevnetRole
  writer: boolean
  /** Pinning preset: every peer keeps every block ('archive') until pinning presets land. */
  pinPreset: 'archive'
  peerId: string
  identity: string
  listen: string
  api: string
}

export interface DevnetManifest {
  network: string
  peers: DevnetPeerSpec[]
}

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
    const others = names.map((_, j) => j).filter(j => j !== i)
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
        peers: others.map(j => `${listen[j]}/p2p/${peerIds[j]}`),
        writers,
        replicas: others.map(j => peerIds[j]),
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

interface PeerView {
  spec: DevnetPeerSpec
  process?: PeerProcess
  height: number
  cid: string
  /** (time, height) samples of the last few seconds, for blocks/s. */
  samples: Array<[number, number]>
  /** When the peer first had the final height. */
  reachedAt?: number
  addresses: string[]
  peerId: string
  /** The peer's HTTP API and dashboard. */
  api?: string
}

export interface DevnetSummary {
  network: string
  target: number
  ingested: { blocks: number, transactions: number, seconds: number, blocksPerSecond: number }
  peers: Array<{ name: string, role: DevnetRole, peerId: string, addresses: string[], api?: string, height: number, cid: string, caughtUpMs: number | null }>
  converged: boolean
  seconds: number
}

const RATE_WINDOW_MS = 3000

function rateOf (v: PeerView, now: number): number {
  const recent = v.samples.filter(([t]) => now - t <= RATE_WINDOW_MS)
  v.samples = recent
  if (recent.length < 2) return 0
  const [t0, h0] = recent[0]
  const [t1, h1] = recent[recent.length - 1]
  return t1 > t0 ? (h1 - h0) / ((now - t0) / 1000) : 0
}

function note (v: PeerView, height: number, cid: string): void {
  if (height < v.height && v.height >= 0) return
  v.height = height
  v.cid = cid
  v.samples.push([Date.now(), height])
}

function formatSeconds (s: number): string {
  const r = Math.round(s)
  return r < 60 ? `${r}s` : `${Math.floor(r / 60)}m${String(r % 60).padStart(2, '0')}s`
}

/** The live view: a bar per peer on a TTY, plain lines once a second otherwise. */
interface Display {
  tick: (views: PeerView[], target: number, final: boolean) => void
  log: (line: string) => void
  stop: () => void
}

function startDisplay (views: PeerView[], target: number): Display {
  const started = Date.now()
  const width = Math.max(...views.map(v => `${v.spec.name} ${v.spec.role}`.length))
  const label = (v: PeerView): string => `${v.spec.name} ${v.spec.role}`.padEnd(width)
  if (process.stderr.isTTY === true) {
    const multi = new cliProgress.MultiBar({
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      autopadding: true,
      barsize: 24,
      fps: 10
    }, cliProgress.Presets.shades_classic)
    const bars = views.map((v, i) => multi.create(target + 1, Math.max(0, v.height + 1), { label: label(v), height: v.height < 0 ? '-' : String(v.height), lag: '0', rate: '0', etaText: '-' }, {
      format: i === 0
        ? `{label} [{bar}] {percentage}% | height {height}/${target} | {rate} blocks/s | ETA {etaText}`
        : '{label} [{bar}] {percentage}% | height {height} | lag {lag} | {rate} blocks/s'
    }))
    return {
      tick (vs, tgt) {
        const now = Date.now()
        const lead = vs[0].height
        vs.forEach((v, i) => {
          const rate = rateOf(v, now)
          bars[i].setTotal(tgt + 1)
          bars[i].update(Math.max(0, v.height + 1), {
            height: v.height < 0 ? '-' : String(v.height),
            lag: String(Math.max(0, lead - v.height)),
            rate: String(Math.round(rate)),
            etaText: v.height >= tgt ? 'done' : rate > 0 ? formatSeconds((tgt - v.height) / rate) : '-'
          })
        })
      },
      log (line) { multi.log(line + '\n') },
      // a redraw flushes lines logged since the last frame
      stop () { multi.update(); multi.stop() }
    }
  }
  let last = 0
  let lastKey = ''
  return {
    tick (vs, tgt, final) {
      const now = Date.now()
      const key = vs.map(v => v.height).join()
      if (key === lastKey || (!final && now - last < 1000)) return
      last = now
      lastKey = key
      const lead = vs[0]
      const leadRate = rateOf(lead, now)
      const eta = lead.height >= tgt ? 'done' : leadRate > 0 ? formatSeconds((tgt - lead.height) / leadRate) : '-'
      const parts = [
        `${lead.spec.name} ${Math.max(lead.height, 0)}/${tgt} (${Math.floor((lead.height + 1) / (tgt + 1) * 100)}%) ${Math.round(leadRate)} blocks/s ETA ${eta}`,
        ...vs.slice(1).map(v => `${v.spec.name} ${v.height < 0 ? '-' : v.height} lag ${Math.max(0, lead.height - v.height)} ${Math.round(rateOf(v, now))} blocks/s`)
      ]
      process.stderr.write(`devnet ${((now - started) / 1000).toFixed(1)}s: ${parts.join(' | ')}\n`)
    },
    log (line) { process.stderr.write(line + '\n') },
    stop () {}
  }
}

/** Serves GET /peers and /head of one devnet peer (the peer's own process has no HTTP server). */
function forwardOutput (p: PeerProcess, name: string, log: (line: string) => void): void {
  for (const stream of [p.child.stdout, p.child.stderr]) {
    if (stream == null) continue
    createInterface({ input: stream }).on('line', line => { log(`[${name}] ${line}`) })
  }
}

/**
 * Runs the devnet until Ctrl-C (or, with `exit`, until every peer holds the
 * last block). Progress goes to stderr; the summary is returned.
 */
export async function runDevnet (o: DevnetOptions): Promise<DevnetSummary> {
  const started = Date.now()
  const dir = o.profiles ?? PEERS_DIR
  const manifest: DevnetManifest = JSON.parse(await readFile(join(dir, MANIFEST), 'utf8'))
  const randomPorts = o.basePort === 0
  const configs: ChainStoreConfig[] = []
  for (const spec of manifest.peers) {
    const cfg = JSON.parse(await readFile(join(dir, spec.profile), 'utf8'))
    if (o.dir != null) cfg.dataDir = join(o.dir, spec.name)
    if (o.basePort != null) {
      const i = manifest.peers.indexOf(spec)
      cfg.network.listen = [`/ip4/127.0.0.1/tcp/${randomPorts ? 0 : o.basePort + i + 1}`]
      cfg.network.peers = []
      cfg.api = { ...cfg.api, port: 0 }
    }
    if (o.logLevel != null) cfg.logLevel = o.logLevel
    configs.push(parseConfig(cfg))
  }
  if (o.fresh === true) {
    for (const c of configs) await rm(resolve(c.dataDir), { recursive: true, force: true })
  }

  const views: PeerView[] = manifest.peers.map(spec => ({ spec, height: -1, cid: '', samples: [], addresses: [], peerId: spec.peerId }))
  const target = o.blocks - 1
  let display: Display | undefined
  const pendingLog: string[] = []
  const log = (line: string): void => { if (display != null) display.log(line); else pendingLog.push(line) }
  let stopping = false
  let failure: Error | undefined
  let wake: () => void = () => {}
  const woken = (): Promise<void> => new Promise(resolve => { wake = resolve })

  const stopAll = async (): Promise<void> => {
    await Promise.all(views.map(async v => await v.process?.stop().catch(() => {})))
  }

  // peers dial the addresses in their profile; with overridden ports the
  // others learn the earlier peers' real addresses as they start
  const startPeer = async (i: number): Promise<void> => {
    const v = views[i]
    const cfg = configs[i]
    if (o.basePort != null && i > 0) cfg.network.peers = views[0].addresses.slice(0, 1)
    const p = await PeerProcess.start(cfg, { stdio: 'pipe', api: o.api !== false })
    v.process = p
    forwardOutput(p, v.spec.name, log)
    const info = await p.call('info')
    v.addresses = info.addresses
    v.peerId = info.peerId
    if (info.api != null) v.api = info.api
    const head = await p.call('head')
    if (head != null) note(v, head.height, head.cid)
    p.events.on('head', (h: { height: number, cid: string }) => { note(v, h.height, h.cid); if (h.height >= target && v.reachedAt == null) v.reachedAt = Date.now(); wake() })
    void p.exited.then(code => {
      if (stopping) return
      failure ??= new Error(`${v.spec.name} exited unexpectedly (${String(code)})`)
      wake()
    })
  }

  const onSignal = (): void => { stopping = true; wake() }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  const ingested = { blocks: 0, transactions: 0, seconds: 0, blocksPerSecond: 0 }
  try {
    process.stderr.write(`devnet ${manifest.network}: starting ${views.length} peers, each in its own process…\n`)
    const up = async (i: number): Promise<void> => {
      const t = Date.now()
      await startPeer(i)
      const v = views[i]
      process.stderr.write(`  ${v.spec.name} ${v.spec.role.padEnd(7)} ${v.peerId} ${v.addresses[0] ?? ''}${v.api != null ? ` dashboard ${v.api}/` : ''} (up in ${((Date.now() - t) / 1000).toFixed(1)} s${v.height >= 0 ? `, height ${v.height}` : ''})\n`)
    }
    // peer 1 first: with overridden ports the others only learn its address once it listens
    await up(0)
    await Promise.all(views.slice(1).map(async (_, i) => await up(i + 1)))
    if (o.basePort != null) {
      // the later peers learnt peer 1 only: connect them to each other
      for (let i = 2; i < views.length; i++) {
        for (let j = 1; j < i; j++) await views[i].process!.call('dial', { addr: views[j].addresses[0] }).catch(() => {})
      }
    }
    if (stopping) return summarize()
    display = startDisplay(views, target)
    for (const line of pendingLog.splice(0)) display.log(line)
    const timer = setInterval(() => display?.tick(views, target, false), 200)

    // ingest on peer 1 in chunks: one progress step per `ingest` call
    const writer = views[0]
    const chunk = o.chunk ?? 20
    const t0 = performance.now()
    try {
      while (!stopping && failure == null && writer.height < target) {
        const n = Math.min(chunk, target - writer.height)
        const r = await writer.process!.call('ingest', { count: n, batch: n, txs: o.txsPerBlock ?? 100, seed: 1 })
        if (r.errors.length > 0) throw new Error(`ingest on ${writer.spec.name}: ${r.errors[0].name as string}: ${r.errors[0].message as string}`)
        ingested.blocks += r.stored.length
        ingested.transactions += r.stored.length * (o.txsPerBlock ?? 100)
        const last = r.stored[r.stored.length - 1]
        if (last != null) note(writer, last.height, last.cid)
      }
    } catch (err) {
      if (!stopping) throw err
    }
    ingested.seconds = (performance.now() - t0) / 1000
    ingested.blocksPerSecond = ingested.blocks / Math.max(ingested.seconds, 1e-9)
    if (writer.height >= target) writer.reachedAt ??= Date.now()

    // follow the others until they hold the writer's head (and after, until Ctrl-C)
    const deadline = Date.now() + (o.timeoutMs ?? 300_000)
    let announced = false
    while (!stopping && failure == null) {
      const lead = views[0]
      const caughtUp = views.every(v => v.height >= lead.height && v.cid === lead.cid)
      if (caughtUp && !announced) {
        announced = true
        display.tick(views, target, true)
        const after = views.slice(1).map(v => v.reachedAt != null && lead.reachedAt != null ? `${v.spec.name} +${v.reachedAt - lead.reachedAt} ms` : v.spec.name)
        display.log(`all ${views.length} peers at height ${lead.height} (${lead.cid}); caught up after the writer: ${after.join(', ')}`)
        if (o.exit === true) break
        display.log('following the peers; Ctrl-C to stop')
      }
      if (o.exit === true && Date.now() > deadline) { failure = new Error(`peers did not converge within ${o.timeoutMs ?? 300_000} ms`); break }
      // head events drive the view; a poll now and then covers a missed event
      await Promise.race([woken(), new Promise(resolve => setTimeout(resolve, 1000))])
      await Promise.all(views.map(async v => {
        const h = await v.process?.call('head').catch(() => null)
        if (h != null) note(v, h.height, h.cid)
      }))
    }
    clearInterval(timer)
    if (!announced) display.tick(views, target, true)
  } finally {
    stopping = true
    display?.stop()
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    await stopAll()
  }
  if (failure != null) throw failure
  return summarize()

  function summarize (): DevnetSummary {
    const lead = views[0]
    return {
      network: manifest.network,
      target,
      ingested,
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
      seconds: (Date.now() - started) / 1000
    }
  }
}
