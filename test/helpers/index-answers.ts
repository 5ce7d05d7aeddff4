/**
 * Every answer of the index-backed queries on a store, in a JSON-comparable
 * form: each address's whole history (pages of 2, both directions, with the
 * cursors), getLogs by address, by each topic slot, unfiltered and over a
 * height window, and every transaction's location. A layout change (and its
 * migration) must leave all of them as they were.
 */
import { SyntheticChain } from '../../src/synthetic/chain.ts'
import type { ChainStore } from '../../src/index.ts'

/** The addresses of a synthetic chain made with `seed` and `addresses`. */
export function chainAddresses (seed: number, addresses: number): string[] {
  return new SyntheticChain({ seed, addresses }).addresses
}

/** Collects the answers (see the module comment). */
export async function indexAnswers (store: ChainStore, addresses: string[]): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {}
  const head = store.head()?.height ?? 0
  for (const address of addresses) {
    for (const reverse of [false, true]) {
      const pages: unknown[] = []
      let cursor: string | undefined
      do {
        const page = await store.getAddressHistory(address, { limit: 2, cursor, reverse })
        pages.push({ ids: page.items.map(i => `${i.id.toString()}@${i.height}/${i.index}`), cursor: page.cursor ?? null })
        cursor = page.cursor
      } while (cursor != null)
      out[`history ${address} ${reverse ? 'newest' : 'oldest'}`] = pages
    }
    out[`logs address ${address}`] = await logs(store, { address })
  }
  const all = await store.getLogs({})
  out['logs all'] = all.map(shape)
  out['logs window'] = await logs(store, { fromHeight: 3, toHeight: Math.max(3, head - 3), limit: 5 })
  const topics = new Set<string>()
  for (const l of all) for (const t of l.topics) topics.add(t)
  for (const t of [...topics].sort()) {
    for (let slot = 0; slot < 3; slot++) {
      const filter = Array.from({ length: slot + 1 }, (_, i) => i === slot ? t : null)
      const found = await logs(store, { topics: filter })
      if (found.length > 0) out[`logs topic${slot} ${t}`] = found
    }
  }
  for (let h = 0; h <= head; h++) {
    const b = await store.getBlock(h)
    for (const id of b.txIds) {
      const t = await store.getTransaction(id)
      out[`tx ${id.toString()}`] = [t.blockCid.toString(), t.pageCid.toString(), t.height, t.page, t.position, t.index]
    }
  }
  return out
}

async function logs (store: ChainStore, query: Parameters<ChainStore['getLogs']>[0]): Promise<unknown[]> {
  return (await store.getLogs(query)).map(shape)
}

function shape (l: Awaited<ReturnType<ChainStore['getLogs']>>[number]): unknown {
  return { ...l, txId: l.txId.toString() }
}
