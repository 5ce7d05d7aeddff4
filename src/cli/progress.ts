import cliProgress from 'cli-progress'
import { setLogInterleave } from '../logger.ts'

/** A progress display: a bar with rate and ETA on a TTY, plain periodic lines otherwise. */
export interface Progress {
  update: (done: number, extra?: Record<string, string | number>) => void
  stop: () => void
}

/** Starts a progress display on stderr (stdout stays clean for `--json`). */
export function startProgress (label: string, total: number, unit: string): Progress {
  const started = Date.now()
  if (process.stderr.isTTY === true) {
    const bar = new cliProgress.SingleBar({
      format: `${label} [{bar}] {percentage}% | {value}/{total} ${unit} | {rate} ${unit}/s | ETA {eta_formatted}`,
      stream: process.stderr,
      hideCursor: true
    }, cliProgress.Presets.shades_classic)
    bar.start(total, 0, { rate: '0' })
    // a log line clears the bar's line first and the bar is drawn again under it
    setLogInterleave({ before: () => { process.stderr.write('\r\x1b[2K') }, after: () => { (bar as unknown as { render: (force: boolean) => void }).render(true) } })
    return {
      update (done) { bar.update(done, { rate: Math.round(done / Math.max(0.001, (Date.now() - started) / 1000)).toString() }) },
      stop () { setLogInterleave(null); bar.stop() }
    }
  }
  let lastLine = 0
  return {
    update (done) {
      const now = Date.now()
      if (now - lastLine < 1000 && done < total) return
      lastLine = now
      const secs = (now - started) / 1000
      const rate = done / Math.max(0.001, secs)
      const eta = rate > 0 ? Math.round((total - done) / rate) : 0
      process.stderr.write(`${label}: ${done}/${total} ${unit} (${Math.round(done / total * 100)}%), ${Math.round(rate)} ${unit}/s, ETA ${eta}s\n`)
    },
    stop () {}
  }
}
