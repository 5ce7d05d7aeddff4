import { describe, expect, it } from 'vitest'
import { Reputation, observerScore } from '../src/replication/reputation.ts'

/** The two calls Reputation makes on OrbitDB's KeyValueIndexed, over a Map. */
function memoryKv (): { put: (k: string, v: unknown) => Promise<void>, iterator: () => AsyncGenerator<{ key: string, value: any }>, map: Map<string, any> } {
  const map = new Map<string, any>()
  return {
    map,
    put: async (k, v) => { map.set(k, v) },
    iterator: async function * () { for (const [key, value] of map) yield { key, value } }
  }
}

describe('peer reputation', () => {
  it('scores a peer as the mean over observers, so one liar moves it by at most its share', async () => {
    const db = memoryKv()
    const observers = ['o1', 'o2', 'o3', 'o4']
    for (const o of observers.slice(0, 3)) db.map.set(`${o}/peer-x`, { good: 50, bad: 0, at: 1 })
    const honest = new Reputation('o1', db, 0.2)
    await honest.refresh()
    const before = honest.score('peer-x')
    expect(before.observers).toBe(3)
    // a fourth observer claims the worst possible record
    db.map.set('o4/peer-x', { good: 0, bad: 1_000_000, at: 2 })
    await honest.refresh()
    const after = honest.score('peer-x')
    expect(after.observers).toBe(4)
    expect(before.score - after.score).toBeLessThanOrEqual(before.score / 4 + 1e-9)
    expect(after.score).toBeGreaterThan(0.7)
  })

  it('writes only its own keys and bans a peer it saw misbehave once the aggregate is low', async () => {
    const db = memoryKv()
    const r = new Reputation('me', db, 0.2)
    r.observe('bad-peer', { bad: 1 })
    r.observe('good-peer', { good: 10 })
    await r.flush()
    expect([...db.map.keys()].sort()).toEqual(['me/bad-peer', 'me/good-peer'])
    expect(r.score('bad-peer').score).toBeCloseTo(observerScore({ good: 0, bad: 1, at: 0 }))
    expect(await r.toDisconnect()).toEqual(['bad-peer'])
    expect(r.isBanned('bad-peer')).toBe(true)
    expect(r.isBanned('good-peer')).toBe(false)
  })
})
