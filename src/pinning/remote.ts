import type { CID } from 'multiformats/cid'
import type { Logger } from '../logger.ts'
import type { KvStore } from '../storage/kv.ts'
import type { PinReason, PinRecord } from './records.ts'

/** One remote pinning service (an IPFS Pinning Service API endpoint). */
export interface RemoteService { name: string, endpoint: string, token: string }

/** Where a root stands at one remote service. */
export interface RemotePinStatus {
  service: string
  cid: string
  /** The service's request id, once it accepted the request. */
  requestid: string | null
  /** The service's status (queued, pinning, pinned, failed), or `unsent` (not accepted yet: retried), or `removing`. */
  status: 'unsent' | 'queued' | 'pinning' | 'pinned' | 'failed' | 'removing'
  /** Why the last exchange with the service failed, when it did. */
  error?: string
  updated: string
}

export interface RemotePinsInit {
  services: RemoteService[]
  /** Local pin reasons whose pinned roots are also pinned remotely. */
  reasons: PinReason[]
  intervalMs: number
  timeoutMs: number
  kv: KvStore<RemotePinStatus>
  readPin: (cid: CID) => PinRecord | undefined
  /** This node's multiaddrs, sent as `origins` so a service can fetch from it. */
  origins: () => string[]
  log: Logger
}

const key = (service: string, cid: string): string => `${service}\n${cid}`

/**
 * Remote pinning services as extra replicas: when a root is pinned here for
 * one of `reasons`, each configured service is asked to pin it too (the IPFS
 * Pinning Service API, with this node's addresses as origins); when the
 * local hold goes, the remote request is removed. Each service's status is
 * kept in the kv store and refreshed every `intervalMs`; requests a service
 * did not accept (down, refused) are retried then.
 */
export class RemotePins {
  readonly #i: RemotePinsInit
  #timer: NodeJS.Timeout | undefined
  #running: Promise<void> = Promise.resolve()

  constructor (init: RemotePinsInit) {
    this.#i = init
  }

  start (): void {
    this.#timer = setInterval(() => { void this.sync() }, this.#i.intervalMs)
    this.#timer.unref()
  }

  async stop (): Promise<void> {
    clearInterval(this.#timer)
    await this.#running
  }

  /** A local pin record changed: asks or releases each service accordingly (serialised with the refresh). */
  changed (cid: CID): void {
    this.#running = this.#running.then(async () => { await this.#reconcile(cid.toString(), this.#wanted(cid)) }, () => {})
  }

  /** Every root's status at every service. */
  async list (): Promise<RemotePinStatus[]> {
    const out: RemotePinStatus[] = []
    for await (const [, s] of this.#i.kv.iterate()) out.push(s)
    return out
  }

  /** Retries what is unsent or unremoved and refreshes the status of the rest. */
  async sync (): Promise<void> {
    const run = this.#running.then(async () => {
      for (const s of await this.list()) {
        const service = this.#i.services.find(x => x.name === s.service)
        if (service == null) continue
        if (s.status === 'unsent' || s.status === 'removing') await this.#reconcile(s.cid, s.status === 'unsent')
        else await this.#refresh(service, s)
      }
    }, () => {})
    this.#running = run
    await run
  }

  #wanted (cid: CID): boolean {
    const r = this.#i.readPin(cid)
    return r != null && r.state === 'pinned' && r.reasons.some(x => this.#i.reasons.includes(x))
  }

  async #reconcile (cid: string, wanted: boolean): Promise<void> {
    for (const service of this.#i.services) {
      const k = key(service.name, cid)
      const was = await this.#i.kv.get(k)
      if (wanted && (was == null || was.status === 'unsent')) await this.#request(service, cid)
      else if (!wanted && was != null) await this.#remove(service, was)
    }
  }

  async #request (service: RemoteService, cid: string): Promise<void> {
    const k = key(service.name, cid)
    try {
      const body = await this.#call(service, 'POST', '/pins', { cid, name: `chainstore ${cid.slice(0, 16)}`, origins: this.#i.origins() })
      await this.#i.kv.put(k, { service: service.name, cid, requestid: body.requestid, status: body.status, updated: new Date().toISOString() })
      this.#i.log.info({ service: service.name, cid, requestid: body.requestid, status: body.status }, 'asked a remote pinning service to pin')
    } catch (err) {
      await this.#i.kv.put(k, { service: service.name, cid, requestid: null, status: 'unsent', error: (err as Error).message, updated: new Date().toISOString() })
      this.#i.log.warn({ service: service.name, cid, err: (err as Error).message }, 'remote pinning service did not take the request; retrying later')
    }
  }

  async #remove (service: RemoteService, s: RemotePinStatus): Promise<void> {
    const k = key(service.name, s.cid)
    if (s.requestid == null) { await this.#i.kv.del(k); return }
    try {
      await this.#call(service, 'DELETE', `/pins/${encodeURIComponent(s.requestid)}`)
      await this.#i.kv.del(k)
    } catch (err) {
      if ((err as { status?: number }).status === 404) { await this.#i.kv.del(k); return }
      await this.#i.kv.put(k, { ...s, status: 'removing', error: (err as Error).message, updated: new Date().toISOString() })
    }
  }

  async #refresh (service: RemoteService, s: RemotePinStatus): Promise<void> {
    if (s.requestid == null) return
    try {
      const body = await this.#call(service, 'GET', `/pins/${encodeURIComponent(s.requestid)}`)
      if (body.status !== s.status) this.#i.log.info({ service: service.name, cid: s.cid, from: s.status, to: body.status }, 'remote pin status changed')
      const next: RemotePinStatus = { service: s.service, cid: s.cid, requestid: s.requestid, status: body.status, updated: new Date().toISOString() }
      if (body.status === 'failed' && body.info?.status_details != null) next.error = String(body.info.status_details)
      await this.#i.kv.put(key(service.name, s.cid), next)
    } catch (err) {
      // the service forgot the request (404): ask again
      if ((err as { status?: number }).status === 404) await this.#request(service, s.cid)
      else await this.#i.kv.put(key(service.name, s.cid), { ...s, error: (err as Error).message, updated: new Date().toISOString() })
    }
  }

  async #call (service: RemoteService, method: string, path: string, body?: unknown): Promise<any> {
    const res = await fetch(service.endpoint.replace(/\/+$/, '') + path, {
      method,
      headers: { authorization: `Bearer ${service.token}`, ...(body != null ? { 'content-type': 'application/json' } : {}) },
      ...(body != null ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(this.#i.timeoutMs)
    })
    const text = await res.text()
    if (!res.ok) {
      let details = text.slice(0, 200)
      try { const e = JSON.parse(text).error; details = `${String(e.reason)}: ${String(e.details)}` } catch {}
      throw Object.assign(new Error(`${service.name}: ${method} ${path} → ${res.status} ${details}`), { status: res.status })
    }
    return text === '' ? {} : JSON.parse(text)
  }
}
