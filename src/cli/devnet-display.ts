import cliProgress from 'cli-progress'
import type { PeerProcess } from '../devnet/controller.ts'
import type { DevnetPeerSpec } from '../devnet/types.ts'

/** What the display shows of one devnet peer. */
export interface PeerView {
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

const RATE_WINDOW_MS = 3000

function rateOf (v: PeerView, now: number): number {
  const recent = v.samples.filter(([t]) => now - t <= RATE_WINDOW_MS)
  v.samples = recent
  if (recent.length < 2) return 0
  const [t0, h0] = recent[0]
  const [t1, h1] = recent[recent.length - 1]
  return t1 > t0 ? (h1 - h0) / ((now - t0) / 1000) : 0
}

export function note (v: PeerView, height: number, cid: string): void {
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
export interface Display {
  tick: (views: PeerView[], target: number, final: boolean) => void
  log: (line: string) => void
  stop: () => void
}

export function startDisplay (views: PeerView[], target: number): Display {
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
