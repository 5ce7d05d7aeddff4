import type { StoredLog, StoredReceipt, StoredTx } from './validate.ts'

/**
 * Encoders for the two fixed shapes on the ingest hot path (transactions and
 * receipts) that write the exact bytes @ipld/dag-cbor writes (canonical key
 * order: shorter keys first, then bytewise) at a fraction of the cost of the
 * generic encoder. test/codec.test.ts checks byte equality against
 * `dagCbor.encode` on generated values; anything else goes through dag-cbor.
 */
class Writer {
  buf: Uint8Array
  pos = 0
  constructor (size: number) { this.buf = new Uint8Array(size) }

  ensure (n: number): void {
    if (this.pos + n <= this.buf.length) return
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n))
    next.set(this.buf.subarray(0, this.pos))
    this.buf = next
  }

  head (major: number, n: number): void {
    this.ensure(9)
    const b = this.buf
    const m = major << 5
    if (n < 24) b[this.pos++] = m | n
    else if (n < 0x100) { b[this.pos++] = m | 24; b[this.pos++] = n }
    else if (n < 0x10000) { b[this.pos++] = m | 25; b[this.pos++] = n >> 8; b[this.pos++] = n & 0xff }
    else if (n < 0x1_0000_0000) {
      b[this.pos++] = m | 26
      b[this.pos++] = n >>> 24; b[this.pos++] = (n >>> 16) & 0xff; b[this.pos++] = (n >>> 8) & 0xff; b[this.pos++] = n & 0xff
    } else {
      b[this.pos++] = m | 27
      const hi = Math.floor(n / 0x1_0000_0000)
      const lo = n >>> 0
      b[this.pos++] = hi >>> 24; b[this.pos++] = (hi >>> 16) & 0xff; b[this.pos++] = (hi >>> 8) & 0xff; b[this.pos++] = hi & 0xff
      b[this.pos++] = lo >>> 24; b[this.pos++] = (lo >>> 16) & 0xff; b[this.pos++] = (lo >>> 8) & 0xff; b[this.pos++] = lo & 0xff
    }
  }

  /** A pre-encoded ASCII text key. */
  raw (bytes: Uint8Array): void {
    this.ensure(bytes.length)
    this.buf.set(bytes, this.pos)
    this.pos += bytes.length
  }

  bytes (v: Uint8Array): void {
    this.head(2, v.length)
    this.raw(v)
  }

  uint (n: number): void { this.head(0, n) }

  done (): Uint8Array { return this.buf.slice(0, this.pos) }
}

function key (s: string): Uint8Array {
  return Uint8Array.from([0x60 + s.length, ...Buffer.from(s, 'ascii')])
}

const K = {
  to: key('to'), gas: key('gas'), sig: key('sig'), data: key('data'), from: key('from'),
  nonce: key('nonce'), value: key('value'), gasPrice: key('gasPrice'),
  logs: key('logs'), status: key('status'), gasUsed: key('gasUsed'), topics: key('topics'), address: key('address')
}
const NULL = 0xf6

/** dag-cbor bytes of a stored transaction. */
export function encodeTx (tx: StoredTx): Uint8Array {
  const w = new Writer(96 + tx.data.length + tx.sig.length + tx.value.length + tx.gasPrice.length)
  w.head(5, 8)
  w.raw(K.to)
  if (tx.to === null) { w.ensure(1); w.buf[w.pos++] = NULL } else w.bytes(tx.to)
  w.raw(K.gas); w.uint(tx.gas)
  w.raw(K.sig); w.bytes(tx.sig)
  w.raw(K.data); w.bytes(tx.data)
  w.raw(K.from); w.bytes(tx.from)
  w.raw(K.nonce); w.uint(tx.nonce)
  w.raw(K.value); w.bytes(tx.value)
  w.raw(K.gasPrice); w.bytes(tx.gasPrice)
  return w.done()
}

function writeLog (w: Writer, log: StoredLog): void {
  w.head(5, 3)
  w.raw(K.data); w.bytes(log.data)
  w.raw(K.topics); w.head(4, log.topics.length)
  for (const t of log.topics) w.bytes(t)
  w.raw(K.address); w.bytes(log.address)
}

/** dag-cbor bytes of a stored receipt. */
export function encodeReceipt (r: StoredReceipt): Uint8Array {
  const w = new Writer(32 + r.logs.length * 200)
  w.head(5, 3)
  w.raw(K.logs); w.head(4, r.logs.length)
  for (const log of r.logs) writeLog(w, log)
  w.raw(K.status); w.uint(r.status)
  w.raw(K.gasUsed); w.uint(r.gasUsed)
  return w.done()
}
