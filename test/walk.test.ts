import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Trie } from '@ethereumjs/trie'
import { MapDB, ValueEncoding } from '@ethereumjs/util'
import * as dagCbor from '@ipld/dag-cbor'
import * as dagPb from '@ipld/dag-pb'
import { ClassicLevel } from 'classic-level'
import type { CID } from 'multiformats/cid'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { DAG_CBOR, RAW, cidOf } from '../src/codec/cid.ts'
import { ETH_STATE_TRIE, linksOf, stateNodeCid } from '../src/codec/links.ts'
import { walkDag, type WalkedBlock } from '../src/codec/walk.ts'

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)

/** Blocks kept in a real LevelDB, keyed by multihash. */
class LevelBlocks {
  readonly db: ClassicLevel<Uint8Array, Uint8Array>
  constructor (dir: string) { this.db = new ClassicLevel(dir, { keyEncoding: 'view', valueEncoding: 'view' }) }
  async put (bytes: Uint8Array, codec: number): Promise<CID> {
    const cid = cidOf(bytes, codec)
    await this.db.put(cid.multihash.bytes, bytes)
    return cid
  }

  load = async (cid: CID): Promise<Uint8Array | undefined> => await this.db.get(cid.multihash.bytes)
}

async function collect (walk: AsyncIterable<WalkedBlock>): Promise<Array<{ cid: string, depth: number, missing: boolean }>> {
  const out = []
  for await (const b of walk) out.push({ cid: b.cid.toString(), depth: b.depth, missing: b.bytes == null })
  return out
}

describe('walkDag', () => {
  let dir: string
  let blocks: LevelBlocks
  /** root (dag-cbor) → [a (dag-pb), b (raw), c (dag-cbor)]; a → [d (raw), b]; c → [d, e (raw)]: b and d are linked twice. */
  let dag: Record<'root' | 'a' | 'b' | 'c' | 'd' | 'e', CID>

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'chainstore-walk-'))
    blocks = new LevelBlocks(join(dir, 'level'))
    await blocks.db.open()
    const b = await blocks.put(utf8('b'), RAW)
    const d = await blocks.put(utf8('d'), RAW)
    const e = await blocks.put(utf8('e'), RAW)
    const a = await blocks.put(dagPb.encode(dagPb.prepare({ Data: utf8('a'), Links: [{ Hash: d, Name: 'd', Tsize: 1 }, { Hash: b, Name: 'e', Tsize: 1 }] })), dagPb.code)
    const c = await blocks.put(dagCbor.encode({ name: 'c', kids: [d, { deep: e }] }), DAG_CBOR)
    const root = await blocks.put(dagCbor.encode({ a, b, c }), DAG_CBOR)
    dag = { root, a, b, c, d, e }
  })

  afterEach(async () => {
    await blocks.db.close()
    await rm(dir, { recursive: true, force: true })
  })

  const names = (walked: Array<{ cid: string }>): string[] => walked.map(w => Object.entries(dag).find(([, c]) => c.toString() === w.cid)![0])

  it('walks depth-first, parents first, children in link order, each block once', async () => {
    const walked = await collect(walkDag(dag.root, blocks.load))
    expect(names(walked)).toEqual(['root', 'a', 'd', 'b', 'c', 'e'])
    expect(walked.map(w => w.depth)).toEqual([0, 1, 2, 2, 1, 2])
  })

  it('walks breadth-first, each block once', async () => {
    const walked = await collect(walkDag(dag.root, blocks.load, { order: 'breadth-first' }))
    expect(names(walked)).toEqual(['root', 'a', 'b', 'c', 'd', 'e'])
    expect(walked.map(w => w.depth)).toEqual([0, 1, 1, 1, 2, 2])
  })

  it('follows links down to maxDepth only', async () => {
    expect(names(await collect(walkDag(dag.root, blocks.load, { maxDepth: 0 })))).toEqual(['root'])
    expect(names(await collect(walkDag(dag.root, blocks.load, { maxDepth: 1 })))).toEqual(['root', 'a', 'b', 'c'])
  })

  it('throws MissingBlockError for a missing block, or reports it and goes on', async () => {
    await blocks.db.del(dag.d.multihash.bytes)
    await expect(collect(walkDag(dag.root, blocks.load))).rejects.toHaveProperty('name', 'MissingBlockError')
    const walked = await collect(walkDag(dag.root, blocks.load, { reportMissing: true }))
    expect(names(walked)).toEqual(['root', 'a', 'd', 'b', 'c', 'e'])
    expect(walked.filter(w => w.missing).map(w => names([w])[0])).toEqual(['d'])
  })

  it('skips subtrees another walk expanded (shared set), but not missing blocks', async () => {
    await blocks.db.del(dag.e.multihash.bytes)
    const expanded = new Set<string>()
    const first = await collect(walkDag(dag.c, blocks.load, { expanded, reportMissing: true }))
    expect(names(first)).toEqual(['c', 'd', 'e'])
    const second = await collect(walkDag(dag.root, blocks.load, { expanded, reportMissing: true }))
    expect(names(second)).toEqual(['root', 'a', 'b'])
    const again = await collect(walkDag(dag.e, blocks.load, { expanded, reportMissing: true }))
    expect(again).toEqual([{ cid: dag.e.toString(), depth: 0, missing: true }])
  })

  it('follows the links the `links` option gives, and ends with the error it throws', async () => {
    const noRaw = (cid: CID, bytes: Uint8Array): CID[] => (linksOf(cid, bytes) ?? []).filter(l => l.code !== RAW)
    expect(names(await collect(walkDag(dag.root, blocks.load, { links: noRaw })))).toEqual(['root', 'a', 'c'])
    const refuse = (): CID[] => { throw new RangeError('no links here') }
    await expect(collect(walkDag(dag.root, blocks.load, { links: refuse }))).rejects.toThrow(RangeError)
  })

  it('honours the abort signal between blocks and hands it to the loader', async () => {
    const controller = new AbortController()
    const signals: Array<AbortSignal | undefined> = []
    const load = async (cid: CID, o: { signal?: AbortSignal }): Promise<Uint8Array | undefined> => { signals.push(o.signal); return await blocks.load(cid) }
    const seen: string[] = []
    const walk = async (): Promise<void> => {
      for await (const b of walkDag(dag.root, load, { signal: controller.signal })) {
        seen.push(b.cid.toString())
        if (seen.length === 2) controller.abort()
      }
    }
    await expect(walk()).rejects.toHaveProperty('name', 'AbortError')
    expect(seen).toHaveLength(2)
    expect(signals.every(s => s === controller.signal)).toBe(true)
    await expect(collect(walkDag(dag.root, load, { signal: AbortSignal.abort() }))).rejects.toHaveProperty('name', 'AbortError')
  })

  it('walks an Ethereum state trie: every hashed node under the root once, parents first', async () => {
    const db = new MapDB<string, Uint8Array>()
    const trie = new Trie({ db, useKeyHashing: true, valueEncoding: ValueEncoding.Bytes })
    for (let i = 0; i < 200; i++) await trie.put(Uint8Array.of(i, i >> 1, 7), utf8(`account ${i} with a value long enough to be hashed`))
    // every node the trie wrote (including those of intermediate roots, which the walk must not reach)
    for (const [hex, bytes] of (db as any)._database as Map<string, Uint8Array>) await blocks.db.put(stateNodeCid(Uint8Array.from(Buffer.from(hex, 'hex'))).multihash.bytes, bytes)
    const root = stateNodeCid(trie.root())
    const depthFirst: WalkedBlock[] = []
    for await (const b of walkDag(root, blocks.load)) depthFirst.push(b)
    const reached = new Set(depthFirst.map(b => b.cid.toString()))
    expect(reached.size).toBe(depthFirst.length)
    expect(depthFirst.length).toBeGreaterThan(16)
    expect(depthFirst[0].cid.equals(root)).toBe(true)
    const linked = new Set<string>([root.toString()])
    for (const b of depthFirst) {
      expect(b.cid.code).toBe(ETH_STATE_TRIE)
      // each node comes after a parent that links it, and what it links is reached
      expect(linked.has(b.cid.toString())).toBe(true)
      for (const l of linksOf(b.cid, b.bytes!)!) { linked.add(l.toString()); expect(reached.has(l.toString())).toBe(true) }
    }
    const breadthFirst = await collect(walkDag(root, blocks.load, { order: 'breadth-first' }))
    expect(new Set(breadthFirst.map(b => b.cid))).toEqual(reached)
    expect(breadthFirst.map(b => b.depth)).toEqual([...breadthFirst.map(b => b.depth)].sort((x, y) => x - y))
  })
})
