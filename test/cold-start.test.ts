/**
 * A store with the network off starts without loading the rooms that are
 * off: no OrbitDB, libp2p, bitswap or Helia package until something asks
 * for them (`store.helia` builds a light Helia on first access).
 */
import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { tempDir } from './helpers/store.ts'

const run = promisify(execFile)
const SRC = new URL('../src/index.ts', import.meta.url).href

/** Runs `body` in a fresh Node process after opening a store; prints the module URLs it loaded. */
async function loadedBy (body: string): Promise<string[]> {
  const t = await tempDir('chainstore-cold-')
  try {
    const hook = join(t.dir, 'hook.mjs')
    await writeFile(hook, `import { registerHooks } from 'node:module'
const seen = []
registerHooks({ load (url, ctx, next) { seen.push(url); return next(url, ctx) } })
process.on('exit', () => { process.stdout.write(JSON.stringify(seen)) })
`)
    const main = join(t.dir, 'main.mjs')
    await writeFile(main, `const { createChainStore, createLogger } = await import(${JSON.stringify(SRC)})
const store = await createChainStore({ dataDir: ${JSON.stringify(join(t.dir, 'data'))} }, { logger: createLogger({ level: 'silent' }) })
${body}
await store.stop()
`)
    const { stdout } = await run(process.execPath, ['--import', hook, main], { timeout: 60_000 })
    return JSON.parse(stdout) as string[]
  } finally {
    await t.cleanup()
  }
}

const pkg = (urls: string[], name: string): boolean => urls.some(u => u.includes(`/node_modules/${name}/`))

describe('cold start with the network off', () => {
  it('opens a store and reads without loading Helia, UnixFS, libp2p (or its crypto), bitswap, OrbitDB, the state trie, snapshots\' CAR code or the Ethereum crypto', async () => {
    const urls = await loadedBy('store.head(); await store.putBytes(new Uint8Array([1, 2, 3]))')
    expect(urls.some(u => u.endsWith('/src/node/chainstore.ts')), 'the store itself was loaded').toBe(true)
    for (const name of ['helia', '@helia/libp2p', '@helia/bitswap', 'libp2p', '@orbitdb/core', '@libp2p/webrtc', '@helia/unixfs', '@libp2p/crypto', 'ipfs-unixfs-importer', '@ethereumjs/trie', '@ethereumjs/util', 'ethereum-cryptography']) {
      expect(pkg(urls, name), `${name} loaded by a network-off open`).toBe(false)
    }
  })

  it('store.helia builds a light Helia on first access, without libp2p', async () => {
    const urls = await loadedBy(`const cid = await store.putBytes(new Uint8Array([4, 5, 6]))
let n = 0
for await (const c of store.helia.blockstore.get(cid)) n += c.length
if (n !== 3) throw new Error('helia read ' + n + ' bytes')`)
    expect(pkg(urls, 'helia')).toBe(true)
    expect(pkg(urls, '@orbitdb/core')).toBe(false)
  })
})
