import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createChainStore, type ChainStore, type ChainStoreConfigInput } from '../../src/index.ts'
import { createLogger } from '../../src/logger.ts'
import { SyntheticChain, type SyntheticOptions } from '../../src/synthetic/chain.ts'

/** A fresh temp directory, removed by the returned cleanup. */
export async function tempDir (prefix = 'chainstore-test-'): Promise<{ dir: string, cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  return { dir, cleanup: async () => { await rm(dir, { recursive: true, force: true }) } }
}

/** A logger that stays quiet in tests. */
export const quietLogger = createLogger({ level: 'silent' })

/** A started store in a temp dir, and a chain generator with matching limits. */
export async function openTestStore (config: ChainStoreConfigInput = {}, chainOptions: SyntheticOptions = {}): Promise<{
  store: ChainStore
  chain: SyntheticChain
  dir: string
  reopen: (extra?: ChainStoreConfigInput) => Promise<ChainStore>
  cleanup: () => Promise<void>
}> {
  const { dir, cleanup } = await tempDir()
  const dataDir = join(dir, 'data')
  const opened: ChainStore[] = []
  const open = async (extra: ChainStoreConfigInput = {}): Promise<ChainStore> => {
    const s = await createChainStore({ dataDir, ...config, ...extra }, { logger: quietLogger })
    opened.push(s)
    return s
  }
  const store = await open()
  const chain = new SyntheticChain({ txsPerBlock: [5, 20], addresses: 50, ...chainOptions })
  return {
    store,
    chain,
    dir,
    reopen: open,
    cleanup: async () => {
      for (const s of opened) await s.stop()
      await cleanup()
    }
  }
}
