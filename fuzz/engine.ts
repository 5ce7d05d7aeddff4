/**
 * A small coverage-guided byte fuzzer (Jazzer.js 4 cannot load here, see
 * docs/FAULTS.md): inputs come from a corpus of real encodings, mutated
 * AFL-style and mixed with structured values that fast-check generates;
 * coverage is V8's precise block coverage, read through the inspector after
 * every input, and an input that reaches a new (range, hit-count bucket) of
 * the project's decoders or their CBOR/CID libraries joins the corpus.
 *
 * A crash is any throw the target does not declare as expected (typed
 * ChainStoreError subclasses, or the decoder's documented error).
 */
import { Session } from 'node:inspector'
import * as dagCbor from '@ipld/dag-cbor'
import fc from 'fast-check'
import { concat } from '../src/storage/keys.ts'

/** One fuzz target: a decoder fed arbitrary bytes. */
export interface FuzzTarget {
  name: string
  /** Valid inputs to start from. */
  seeds: () => Uint8Array[] | Promise<Uint8Array[]>
  run: (data: Uint8Array) => unknown
  /** True for the errors the decoder may throw on bad bytes. */
  expected: (err: unknown) => boolean
  /**
   * A bug already reported but not fixable from here (the file belongs to
   * another room): matching throws are counted as `known`, not as crashes.
   */
  known?: { note: string, matches: (err: unknown) => boolean }
}

export interface Crash { target: string, input: string, error: string, stack?: string }

export interface FuzzResult {
  target: string
  execs: number
  corpus: number
  /** Distinct covered (range, bucket) features. */
  features: number
  crashes: Crash[]
  /** Throws matching the target's known, reported bug (with one example). */
  known: { count: number, note: string, example?: Crash }
  /** Slowest single input (ms). */
  slowestMs: number
  seconds: number
}

/** xorshift32: reproducible from a seed. */
function prng (seed: number): () => number {
  let x = seed >>> 0 || 0x9e3779b9
  return () => { x ^= x << 13; x >>>= 0; x ^= x >> 17; x ^= x << 5; x >>>= 0; return x }
}

const INTERESTING = [0x00, 0x01, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1f, 0x20, 0x40, 0x58, 0x5f, 0x60, 0x78, 0x80, 0x98, 0x9f, 0xa0, 0xb8, 0xbf, 0xc0, 0xd8, 0x2a, 0xf4, 0xf5, 0xf6, 0xf7, 0xf9, 0xfa, 0xfb, 0xff, 0x7f, 0xfe]

/** One AFL-style mutation of `input` (never in place). */
export function mutate (input: Uint8Array, rand: () => number, other?: Uint8Array): Uint8Array {
  const r = (n: number): number => n <= 0 ? 0 : rand() % n
  let b: Uint8Array = Uint8Array.from(input)
  const rounds = 1 + r(4)
  for (let k = 0; k < rounds; k++) {
    const op = r(11)
    const at = r(b.length + 1)
    if (op === 0 && b.length > 0) b[r(b.length)] ^= 1 << r(8)
    else if (op === 1 && b.length > 0) b[r(b.length)] = INTERESTING[r(INTERESTING.length)]
    else if (op === 2 && b.length > 0) b[r(b.length)] = r(256)
    else if (op === 3) { // insert random bytes
      const n = 1 + r(8)
      const ins = Uint8Array.from({ length: n }, () => r(256))
      b = concat([b.subarray(0, at), ins, b.subarray(at)])
    } else if (op === 4 && b.length > 1) { // delete a range
      const n = 1 + r(Math.min(16, b.length - at))
      b = concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + n))])
    } else if (op === 5 && b.length > 0) { // duplicate a range
      const from = r(b.length); const n = 1 + r(Math.min(32, b.length - from))
      b = concat([b.subarray(0, at), b.subarray(from, from + n), b.subarray(at)])
    } else if (op === 6) { // truncate
      b = b.subarray(0, at)
    } else if (op === 7 && other != null && other.length > 0) { // splice with another corpus entry
      const from = r(other.length)
      b = concat([b.subarray(0, at), other.subarray(from, from + 1 + r(other.length - from))])
    } else if (op === 8 && b.length >= 2) { // big-endian 16/32-bit interesting lengths
      const v = [0, 0xff, 0x100, 0xffff, 0x7fffffff, 0xffffffff, 24, 23][r(8)]
      const pos = r(b.length - 1)
      b[pos] = (v >>> 8) & 0xff; b[pos + 1] = v & 0xff
    } else if (op === 9 && b.length > 0) { // arithmetic
      const pos = r(b.length); b[pos] = (b[pos] + r(35) - 17) & 0xff
    } else if (op === 10) { // a dag-cbor head claiming a huge length
      const head = [Uint8Array.of(0x9b, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff), Uint8Array.of(0x5a, 0x7f, 0xff, 0xff, 0xff), Uint8Array.of(0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), Uint8Array.of(0xd8, 0x2a, 0x58, 0x25, 0x00)][r(4)]
      b = concat([b.subarray(0, at), head, b.subarray(at)])
    }
  }
  return b.length > 1 << 20 ? b.subarray(0, 1 << 20) : b
}


/** Structured inputs: dag-cbor encodings of arbitrary values (fast-check), and raw random bytes. */
const cborValue = fc.letrec(tie => ({
  value: fc.oneof({ depthSize: 'small' },
    fc.integer(), fc.boolean(), fc.constant(null), fc.string({ maxLength: 40 }), fc.uint8Array({ maxLength: 64 }),
    fc.array(tie('value'), { maxLength: 6 }), fc.dictionary(fc.string({ maxLength: 8 }), tie('value'), { maxKeys: 6 }))
})).value
const structured = fc.oneof(
  cborValue.map(v => { try { return dagCbor.encode(v) } catch { return new Uint8Array(0) } }),
  fc.uint8Array({ maxLength: 512 })
)

/** Coverage over the inspector: features seen so far, by script URL filter. */
class Coverage {
  readonly #session = new Session()
  readonly #seen = new Set<string>()
  readonly #filter: (url: string) => boolean
  constructor (filter: (url: string) => boolean) {
    this.#filter = filter
    this.#session.connect()
    this.#post('Profiler.enable')
    this.#post('Profiler.startPreciseCoverage', { callCount: true, detailed: true })
  }

  #post (method: string, params?: object): any {
    let out: any; let error: any
    // a session connected to the same thread answers synchronously
    this.#session.post(method, params ?? {}, (err, res) => { error = err; out = res })
    if (error != null) throw error
    return out
  }

  /** Takes (and resets) the counters; returns how many new features the last input reached. */
  take (): number {
    const { result } = this.#post('Profiler.takePreciseCoverage')
    let fresh = 0
    for (const script of result) {
      if (!this.#filter(script.url)) continue
      for (const fn of script.functions) {
        for (const range of fn.ranges) {
          if (range.count === 0) continue
          const bucket = range.count < 4 ? range.count : range.count < 16 ? 4 : range.count < 128 ? 5 : 6
          const key = `${script.scriptId}:${range.startOffset}:${range.endOffset}:${bucket}`
          if (!this.#seen.has(key)) { this.#seen.add(key); fresh++ }
        }
      }
    }
    return fresh
  }

  get size (): number { return this.#seen.size }

  close (): void {
    try { this.#post('Profiler.stopPreciseCoverage') } catch {}
    this.#session.disconnect()
  }
}

/** What counts as the code under test for coverage: the project's src/ and the CBOR, CID and CAR libraries it decodes with. */
export function defaultCoverageFilter (url: string): boolean {
  return (url.includes('/src/') && !url.includes('node_modules')) || /node_modules\/(cborg|@ipld\/(dag-cbor|dag-pb|car)|multiformats|@ethereumjs\/(trie|rlp))\//.test(url)
}

/** Fuzzes one target for `seconds`; returns its figures and every distinct crash (by error message). */
export async function fuzzTarget (target: FuzzTarget, options: { seconds: number, seed: number, maxCrashes?: number }): Promise<FuzzResult> {
  // deep enough to reach the project's frame under the CBOR decoder's recursion (crash grouping)
  Error.stackTraceLimit = 64
  const rand = prng(options.seed)
  const corpus: Uint8Array[] = [...await target.seeds(), new Uint8Array(0)]
  const crashes: Crash[] = []
  const known: FuzzResult['known'] = { count: 0, note: target.known?.note ?? '' }
  const crashKeys = new Set<string>()
  const coverage = new Coverage(defaultCoverageFilter)
  const end = performance.now() + options.seconds * 1000
  let execs = 0
  let slowestMs = 0
  const structuredInputs = fc.sample(structured, { numRuns: 2000, seed: options.seed })

  const one = async (input: Uint8Array): Promise<void> => {
    const t = performance.now()
    try {
      const r = target.run(input)
      if (r != null && typeof (r as Promise<unknown>).then === 'function') await r
    } catch (err) {
      if (!target.expected(err) && target.known?.matches(err) === true) {
        known.count++
        known.example ??= { target: target.name, input: Buffer.from(input).toString('hex'), error: `${(err as Error)?.name}: ${(err as Error)?.message}` }
      } else if (!target.expected(err)) {
        const e = err as Error
        // one crash per throwing place: the first stack frame in the project's src/, else the first frame
        const frames = String(e?.stack ?? '').split('\n').filter(l => l.trim().startsWith('at '))
        const where = frames.find(l => l.includes('/src/') && !l.includes('node_modules')) ?? frames[0] ?? ''
        const key = `${e?.name} ${where.replace(/:\d+\)?$/, '')}`
        if (!crashKeys.has(key) && crashes.length < (options.maxCrashes ?? 20)) {
          crashKeys.add(key)
          crashes.push({ target: target.name, input: Buffer.from(input).toString('hex'), error: `${e?.name}: ${e?.message}`, stack: e?.stack?.split('\n').slice(0, 6).join('\n') })
        }
      }
    }
    slowestMs = Math.max(slowestMs, performance.now() - t)
    execs++
    if (coverage.take() > 0) corpus.push(input)
  }

  try {
    // the seeds first, so their coverage is the baseline
    for (const s of [...corpus]) await one(s)
    while (performance.now() < end) {
      const pick = rand() % 10
      let input: Uint8Array
      if (pick === 0) input = structuredInputs[rand() % structuredInputs.length]
      else {
        const base = corpus[rand() % corpus.length]
        input = mutate(base, rand, corpus[rand() % corpus.length])
      }
      await one(input)
    }
  } finally {
    coverage.close()
  }
  return { target: target.name, execs, corpus: corpus.length, features: coverage.size, crashes, known, slowestMs, seconds: options.seconds }
}
