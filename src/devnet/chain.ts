import { SyntheticChain } from '../synthetic/chain.ts'

/**
 * The synthetic chain devnet peers store (their `ingest` op): `txsPerBlock`
 * transactions per block among 500 addresses. The benchmark's same-run
 * baselines build the same blocks with it.
 */
export function devnetChain (seed: number, txsPerBlock: number): SyntheticChain {
  return new SyntheticChain({ seed, txsPerBlock, addresses: 500 })
}
