import { afterEach, beforeEach, expect } from 'vitest'
import type { PeerProcess } from '../../src/devnet/controller.ts'
import { tempDir } from './store.ts'

/** A test file's peer processes: a temp dir per test, and after each test every peer stopped, the dir removed, and no peer found dead on its own. */
export interface PeerEnv {
  /** The current test's temp dir (set before each test). */
  dir: string
  /** Peers to stop after the test (push what you start; drop one you killed on purpose). */
  peers: PeerProcess[]
}

/** Registers the hooks of {@link PeerEnv} for the calling test file. */
export function usePeerProcesses (prefix: string): PeerEnv {
  const env: PeerEnv = { dir: '', peers: [] }
  let cleanup: () => Promise<void> = async () => {}
  beforeEach(async () => { ({ dir: env.dir, cleanup } = await tempDir(prefix)) })
  afterEach(async () => {
    // no peer may have died on its own (bad input, a reset stream, an OrbitDB error event)
    const crashed = env.peers.filter(p => p.crashed != null).map(p => `${String(p.child.pid)}: ${String(p.crashed)}`)
    await Promise.all(env.peers.map(async p => await p.stop()))
    env.peers = []
    await cleanup()
    expect(crashed).toEqual([])
  })
  return env
}
