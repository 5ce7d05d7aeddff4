/** One observer's counts about one peer, as stored under `observer/peer`. */
export interface Observation {
  good: number
  bad: number
  /** Milliseconds since the epoch of the last change. */
  at: number
}

/** A peer's aggregate: the mean of every observer's score, and how many observed. */
export interface PeerScore {
  score: number
  observers: number
}

/** Weight of one bad observation against good ones: serving bad bytes once outweighs five good blocks. */
export const BAD_WEIGHT = 5

/** One observer's score of a peer in [0, 1]; a peer nobody has seen scores 1 / (1 + 0) = 1 before observations. */
export function observerScore (o: Observation): number {
  return (o.good + 1) / (o.good + 1 + BAD_WEIGHT * o.bad)
}

/**
 * Peer reputation, CRDT-style: every node writes only keys `<own id>/<peer>`
 * (the access controller refuses any other key), so no observer overwrites
 * another. A peer's score is the mean over observers of each one's score (0 to 1):
 * a single lying observer moves it by at most 1/observers.
 */
export class Reputation {
  readonly #self: string
  readonly #db: any
  readonly #min: number
  readonly #local = new Map<string, Observation>()
  readonly #dirty = new Set<string>()
  /** peer → observer → observation, from the replicated store. */
  #all = new Map<string, Map<string, Observation>>()
  readonly #banned = new Set<string>()

  constructor (self: string, db: any, minReputation: number) {
    this.#self = self
    this.#db = db
    this.#min = minReputation
  }

  /** Records what this node saw a peer do. */
  observe (peer: string, delta: { good?: number, bad?: number }): void {
    const o = this.#local.get(peer) ?? { good: 0, bad: 0, at: 0 }
    const next = { good: o.good + (delta.good ?? 0), bad: o.bad + (delta.bad ?? 0), at: Date.now() }
    this.#local.set(peer, next)
    this.#dirty.add(peer)
    this.#setAll(peer, this.#self, next)
    if ((delta.bad ?? 0) > 0 && this.score(peer).score < this.#min) this.#banned.add(peer)
  }

  #setAll (peer: string, observer: string, o: Observation): void {
    let m = this.#all.get(peer)
    if (m == null) this.#all.set(peer, m = new Map())
    m.set(observer, o)
  }

  /** Writes changed observations to the replicated store (one entry per changed peer). */
  async flush (): Promise<void> {
    for (const peer of [...this.#dirty]) {
      this.#dirty.delete(peer)
      await this.#db.put(`${this.#self}/${peer}`, this.#local.get(peer))
    }
  }

  /** Reloads every observer's observations from the replicated store. */
  async refresh (): Promise<void> {
    const all = new Map<string, Map<string, Observation>>()
    for await (const { key, value } of this.#db.iterator()) {
      const slash = String(key).indexOf('/')
      if (slash < 0) continue
      const observer = key.slice(0, slash)
      const peer = key.slice(slash + 1)
      let m = all.get(peer)
      if (m == null) all.set(peer, m = new Map())
      m.set(observer, observer === this.#self ? (this.#local.get(peer) ?? value) : value)
    }
    for (const [peer, o] of this.#local) {
      let m = all.get(peer)
      if (m == null) all.set(peer, m = new Map())
      m.set(this.#self, o)
    }
    this.#all = all
  }

  /** A peer's aggregate score (1 with no observations). */
  score (peer: string): PeerScore {
    const m = this.#all.get(peer)
    if (m == null || m.size === 0) return { score: 1, observers: 0 }
    let sum = 0
    for (const o of m.values()) sum += observerScore(o)
    return { score: sum / m.size, observers: m.size }
  }

  /** Every peer some observer has scored, with its aggregate. */
  scores (): Array<{ peer: string } & PeerScore> {
    return [...this.#all.keys()].map(peer => ({ peer, ...this.score(peer) })).sort((a, b) => a.peer < b.peer ? -1 : 1)
  }

  isBanned (peer: string): boolean {
    return this.#banned.has(peer)
  }

  /** Peers this node has seen misbehave whose aggregate fell below the minimum: to disconnect. */
  async toDisconnect (): Promise<string[]> {
    await this.refresh()
    const out: string[] = []
    for (const [peer, o] of this.#local) {
      if (o.bad > 0 && this.score(peer).score < this.#min) { this.#banned.add(peer); out.push(peer) }
    }
    return out
  }
}
