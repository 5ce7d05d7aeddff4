import { fork, type ChildProcess } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { basename } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ChainStoreConfigInput } from '../config/index.ts'
import { NODE_MEMORY_ENV, NODE_MEMORY_FLAGS } from '../config/constants.ts'
import { ChainStoreError } from '../errors.ts'

// peer.ts beside this file in a source checkout, peer.js beside it in the built package (dist/)
const PEER_SCRIPT = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './peer.ts' : './peer.js', import.meta.url))

/** An error a peer process reported, with the name it had there. */
export class PeerCallError extends ChainStoreError {
  readonly remoteName: string
  constructor (remoteName: string, message: string) {
    super(message)
    this.remoteName = remoteName
  }
}

/**
 * A devnet peer running in its own process. `call(op, args)` runs one of the
 * operations in `peer.ts`; `events` re-emits its `head` and `reorg` events.
 */
export class PeerProcess {
  readonly child: ChildProcess
  readonly events = new EventEmitter()
  readonly #pending = new Map<number, { resolve: (v: any) => void, reject: (e: Error) => void }>()
  #next = 0
  exited: Promise<number | null>
  /** Set when the process ended without being asked to (crash, uncaught error): tests assert it stays null. */
  crashed: string | null = null
  /** The last 4,000 characters the process wrote, when started with stdio 'pipe'. */
  output = ''
  #stopping = false
  /** The peer's seed, or its data directory's name, for messages. */
  readonly name: string

  private constructor (child: ChildProcess, name: string) {
    this.child = child
    this.name = name
    this.exited = new Promise(resolve => child.once('exit', (code, signal) => {
      if (!this.#stopping && (code !== 0 || signal != null)) this.crashed = `exit code ${String(code)}, signal ${String(signal)}`
      for (const p of this.#pending.values()) p.reject(new PeerCallError('PeerExited', `peer process exited (${String(code)})`))
      this.#pending.clear()
      resolve(code)
    }))
    child.on('message', (msg: any) => {
      if (msg.event != null) { this.events.emit(msg.event, msg); return }
      const p = this.#pending.get(msg.id)
      if (p == null) return
      this.#pending.delete(msg.id)
      if (msg.ok === true) p.resolve(msg.result)
      else p.reject(new PeerCallError(msg.error?.name ?? 'Error', msg.error?.message ?? 'peer call failed'))
    })
  }

  /** Starts a peer process and waits until its store and replication are up. */
  /** Forks a peer; with `api` it also serves the HTTP API and dashboard on its config's api host and port (`info().api`). */
  static async start (config: ChainStoreConfigInput, options: { byzantine?: 'wrong-bytes', stdio?: 'inherit' | 'ignore' | 'pipe', api?: boolean, execArgv?: string[], execPath?: string } = {}): Promise<PeerProcess> {
    const child = fork(PEER_SCRIPT, [JSON.stringify({ config, byzantine: options.byzantine, api: options.api })], {
      // fault tests run peers inside a network namespace: execPath `ip`, execArgv ['netns', 'exec', name, node]
      execPath: options.execPath ?? process.execPath,
      execArgv: options.execArgv ?? NODE_MEMORY_FLAGS,
      env: { ...process.env, ...NODE_MEMORY_ENV },
      stdio: ['ignore', options.stdio ?? 'inherit', options.stdio ?? 'inherit', 'ipc']
    })
    const peer = new PeerProcess(child, config.network?.seed ?? (config.dataDir != null ? basename(config.dataDir) : 'peer'))
    // with stdio 'pipe' the last output is kept, so a peer that dies says why
    for (const s of [child.stdout, child.stderr]) s?.on('data', (d: Buffer) => { peer.output = (peer.output + d.toString()).slice(-4000) })
    await new Promise<void>((resolve, reject) => {
      peer.events.once('ready', () => resolve())
      child.once('exit', code => reject(new PeerCallError('PeerExited', `peer process exited during start (${String(code)})${peer.output !== '' ? `: ${peer.output.slice(-1500)}` : ''}`)))
    })
    return peer
  }

  async call<T = any> (op: string, args: unknown = {}): Promise<T> {
    const id = this.#next++
    return await new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject })
      this.child.send({ id, op, args })
    })
  }

  /**
   * Resolves when the peer's canonical head reaches `height`. It listens before it asks for
   * the head: a `head` event that arrives in the same IPC read as the answer is not lost
   * (a peer that has stopped writing sends no other).
   */
  async waitForHeight (height: number, timeoutMs = 60_000): Promise<{ height: number, cid: string, t: number }> {
    let last = -1
    let on: (h: any) => void = () => {}
    let timer: NodeJS.Timeout | undefined
    const reached = new Promise<{ height: number, cid: string, t: number }>((resolve, reject) => {
      on = (h: any): void => {
        if (typeof h.height === 'number') last = Math.max(last, h.height)
        if (h.height >= height) resolve(h)
      }
      this.events.on('head', on)
      timer = setTimeout(() => reject(new Error(`peer ${this.name} (pid ${String(this.child.pid)}) did not reach height ${height} in ${timeoutMs} ms (its last head: ${last})`)), timeoutMs)
    })
    try {
      const now = await Promise.race([this.call('head'), reached])
      if (now != null && now.height >= height) return { ...now, t: now.t ?? Date.now() }
      if (now != null) last = Math.max(last, now.height)
      return await reached
    } finally {
      clearTimeout(timer)
      this.events.off('head', on)
    }
  }

  /** Asks the peer to stop cleanly; kills it if it does not exit in time. */
  async stop (timeoutMs = 15_000): Promise<void> {
    if (this.child.exitCode != null || this.child.signalCode != null) return
    this.#stopping = true
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs)
    await this.call('stop').catch(() => {})
    await this.exited
    clearTimeout(timer)
  }

  kill (signal: NodeJS.Signals = 'SIGKILL'): void {
    this.#stopping = true
    this.child.kill(signal)
  }
}
