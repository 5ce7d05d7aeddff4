import { createHash } from 'node:crypto'
import type { CID } from 'multiformats/cid'
import { encodeBlock } from '../codec/encode.ts'
import { toHex } from '../codec/hex.ts'
import type { BlockInput, CodecLimits, ReceiptInput, TransactionInput } from '../codec/types.ts'

/** Shape of a synthetic chain. */
export interface SyntheticOptions {
  /** Seed of the deterministic generator (same seed, same chain). */
  seed?: number
  /** Distinct addresses that send and receive. */
  addresses?: number
  /** Transactions per block: a fixed count or an inclusive range. */
  txsPerBlock?: number | [number, number]
  /** Bytes of call data per transaction (≈ 170 bytes of other fields come on top). */
  dataBytes?: number
  /** Share of transactions whose receipt carries a Transfer log. */
  logShare?: number
  /** Milliseconds between blocks. */
  blockTimeMs?: number
  /** Timestamp of height 0. */
  genesisTime?: number
}

/** The Transfer(address,address,uint256) event topic, as ERC-20 tokens emit it. */
export const TRANSFER_TOPIC = '0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef'

/** mulberry32: small, fast, deterministic, and well mixed from the first draw even for small seeds. */
export function rng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000
  }
}

function addressOf (seed: number, i: number): string {
  return toHex(createHash('sha256').update(`addr:${seed}:${i}`).digest().subarray(0, 20))
}

/**
 * Generates a realistic chain: headers linked by parent CID, 100–500
 * transactions per block by default among a few thousand addresses, ~250-byte
 * transactions, receipts with Transfer logs. Blocks are produced lazily so a
 * long chain never sits in memory.
 */
export class SyntheticChain {
  readonly addresses: string[]
  readonly #opts: Required<SyntheticOptions>
  /** Reseeded by (seed, height) at the start of every block. */
  #random: () => number = Math.random
  readonly #nonces: Uint32Array
  #parent: CID | null = null
  #height = 0

  constructor (options: SyntheticOptions = {}) {
    this.#opts = {
      seed: 1,
      addresses: 3000,
      txsPerBlock: [100, 500],
      dataBytes: 80,
      logShare: 0.3,
      blockTimeMs: 2000,
      genesisTime: Date.UTC(2026, 0, 1),
      ...options
    }
    this.addresses = Array.from({ length: this.#opts.addresses }, (_, i) => addressOf(this.#opts.seed, i))
    this.#nonces = new Uint32Array(this.#opts.addresses)
  }

  /** Height of the next block. */
  get height (): number { return this.#height }

  /**
   * Continues after a stored block: the next block is `head.height + 1` with
   * `head.cid` as parent. Every block draws from a generator seeded by (seed,
   * height), so a resumed chain has the same shape as an uninterrupted one
   * (sender nonces restart, which storage does not care about).
   */
  resume (head: { height: number, cid: CID }): this {
    this.#height = head.height + 1
    this.#parent = head.cid
    return this
  }

  #pick (): number { return Math.floor(this.#random() * this.addresses.length) }

  #bytes (n: number): Uint8Array {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i++) out[i] = (this.#random() * 256) | 0
    return out
  }

  #tx (): { tx: TransactionInput, receipt: ReceiptInput } {
    const fromIdx = this.#pick()
    let toIdx = this.#pick()
    if (toIdx === fromIdx) toIdx = (toIdx + 1) % this.addresses.length
    const from = this.addresses[fromIdx]
    const to = this.addresses[toIdx]
    const value = BigInt(Math.floor(this.#random() * 1e9)) * 1_000_000_000n
    const tx: TransactionInput = {
      from,
      to,
      nonce: this.#nonces[fromIdx]++,
      value,
      gasLimit: 21_000 + Math.floor(this.#random() * 100_000),
      gasPrice: BigInt(1 + Math.floor(this.#random() * 100)) * 1_000_000_000n,
      data: this.#bytes(this.#opts.dataBytes),
      signature: this.#bytes(65)
    }
    const logs = this.#random() < this.#opts.logShare
      ? [{ address: this.addresses[this.#pick()], topics: [TRANSFER_TOPIC, pad32(from), pad32(to)], data: this.#bytes(32) }]
      : []
    const receipt: ReceiptInput = { status: this.#random() < 0.97 ? 1 : 0, gasUsed: 21_000 + Math.floor(this.#random() * 50_000), logs }
    return { tx, receipt }
  }

  /**
   * The next block. Its CID must be known to link the following block, so the
   * generator encodes it once (`limits` should match the store's).
   */
  next (limits: CodecLimits): BlockInput {
    this.#random = rng((this.#opts.seed ^ Math.imul(this.#height, 0x9e3779b1)) >>> 0)
    const range = this.#opts.txsPerBlock
    const count = typeof range === 'number' ? range : range[0] + Math.floor(this.#random() * (range[1] - range[0] + 1))
    const transactions: TransactionInput[] = new Array(count)
    const receipts: ReceiptInput[] = new Array(count)
    for (let i = 0; i < count; i++) {
      const { tx, receipt } = this.#tx()
      transactions[i] = tx
      receipts[i] = receipt
    }
    const block: BlockInput = {
      height: this.#height,
      parent: this.#parent,
      timestamp: this.#opts.genesisTime + this.#height * this.#opts.blockTimeMs,
      proposer: this.addresses[this.#height % Math.min(21, this.addresses.length)],
      stateRoot: toHex(createHash('sha256').update(`state:${this.#height}`).digest()),
      transactions,
      receipts
    }
    this.#parent = encodeBlock(block, limits).cid
    this.#height++
    return block
  }

  /** The next `n` blocks. */
  take (n: number, limits: CodecLimits): BlockInput[] {
    return Array.from({ length: n }, () => this.next(limits))
  }
}

function pad32 (address: string): string {
  return '0x' + address.slice(2).padStart(64, '0')
}
