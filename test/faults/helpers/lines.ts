/**
 * The pipe protocol of the fault suite's child programs: one JSON object per
 * line, written with writev(2) in full before the child goes on, so a line
 * the parent reads was complete before the next step started, and so that
 * strace can inject faults into write(2) (LevelDB's log writes) without
 * touching the acknowledgements.
 */
import { writevSync } from 'node:fs'
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { once } from 'node:events'

const pause = new Int32Array(new SharedArrayBuffer(4))

/** Child side: writes one line to fd 1 and returns once all of it is in the pipe. */
export function emit (obj: Record<string, unknown>): void {
  let line = Buffer.from(JSON.stringify(obj) + '\n')
  while (line.length > 0) {
    try {
      const n = writevSync(1, [line])
      line = line.subarray(n)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err
      Atomics.wait(pause, 0, 0, 1)
    }
  }
}

export type Msg = Record<string, any> & { t: string }

/** Parent side: a child program and the lines it wrote. */
export class ChildLines {
  readonly child: ChildProcessWithoutNullStreams
  readonly lines: Msg[] = []
  stderr = ''
  onLine: (m: Msg) => void = () => {}
  readonly closed: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  #buf = ''
  #waiters: Array<{ test: (m: Msg) => boolean, resolve: (m: Msg) => void }> = []

  constructor (command: string, args: string[], live: Set<ChildProcessWithoutNullStreams>, env: Record<string, string> = {}) {
    this.child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } })
    live.add(this.child)
    this.child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      this.#buf += chunk
      let nl: number
      while ((nl = this.#buf.indexOf('\n')) >= 0) {
        const text = this.#buf.slice(0, nl)
        this.#buf = this.#buf.slice(nl + 1)
        let msg: Msg
        try { msg = JSON.parse(text) } catch { this.stderr += `[stdout] ${text}\n`; continue }
        this.lines.push(msg)
        this.onLine(msg)
        this.#waiters = this.#waiters.filter(w => { if (w.test(msg)) { w.resolve(msg); return false } return true })
      }
    })
    this.child.stderr.setEncoding('utf8').on('data', (c: string) => { this.stderr = (this.stderr + c).slice(-20_000) })
    const child = this.child
    this.closed = (async () => {
      const [code, signal] = await once(child, 'close') as [number | null, NodeJS.Signals | null]
      live.delete(child)
      return { code, signal }
    })()
  }

  async waitFor (test: (m: Msg) => boolean, what: string, timeoutMs = 60_000): Promise<Msg> {
    const seen = this.lines.find(test)
    if (seen != null) return seen
    let timer: NodeJS.Timeout | undefined
    try {
      return await Promise.race([
        new Promise<Msg>(resolve => { this.#waiters.push({ test, resolve }) }),
        this.closed.then(({ code, signal }) => { throw new Error(`child ended (code ${code}, signal ${signal}) before ${what}: ${this.describe()}`) }),
        new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}: ${this.describe()}`)), timeoutMs) })
      ])
    } finally {
      clearTimeout(timer)
    }
  }

  /** Waits for the child to exit; after `timeoutMs` kills it and throws, naming what it was doing. */
  async exited (timeoutMs = 60_000): Promise<{ code: number | null, signal: NodeJS.Signals | null }> {
    try {
      return await deadline(this.closed, timeoutMs, 'the child to exit')
    } catch (err) {
      this.child.kill('SIGKILL')
      await this.closed
      throw new Error(`${(err as Error).message}: ${this.describe()}`)
    }
  }

  send (line: string): void { this.child.stdin.write(line + '\n') }

  describe (): string {
    const err = this.lines.find(m => m.t === 'error')
    return err != null ? `${err.name} in ${err.phase}: ${err.message}` : `stderr: ${this.stderr.slice(-1500)}`
  }
}

/** Resolves as `p`, or rejects once `ms` have passed: a fault test fails with a reason instead of hanging. */
export async function deadline<T> (p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      p,
      new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`timed out after ${ms} ms waiting for ${what}`)) }, ms) })
    ])
  } finally {
    clearTimeout(timer)
  }
}
