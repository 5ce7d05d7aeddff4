/** The operation-time histogram: prom-client's exposition without prom-client's per-observation label work. */
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { OperationHistogram } from '../src/metrics/op-histogram.ts'

describe('operation histogram', () => {
  it('exposes cumulative buckets, +Inf, sum and count per operation, as a registry formats them', async () => {
    const registry = new Registry()
    const h = new OperationHistogram({ name: 'x_seconds', help: 'test', buckets: [0.01, 0.001, 0.1], registers: [registry] })
    const read = h.labels('read')
    for (const s of [0.0005, 0.002, 0.002, 0.05, 3, Number.NaN]) read.observe(s)
    h.labels('write').observe(0.0001)
    const text = await registry.metrics()
    expect(text).toContain('# TYPE x_seconds histogram')
    expect(text).toContain('x_seconds_bucket{le="0.001",op="read"} 1')
    expect(text).toContain('x_seconds_bucket{le="0.01",op="read"} 3')
    expect(text).toContain('x_seconds_bucket{le="0.1",op="read"} 4')
    expect(text).toContain('x_seconds_bucket{le="+Inf",op="read"} 5')
    expect(text).toContain('x_seconds_count{op="read"} 5')
    expect(text).toMatch(/x_seconds_sum\{op="read"\} 3\.0545/)
    expect(text).toContain('x_seconds_count{op="write"} 1')
    h.reset()
    expect(await registry.metrics()).not.toContain('x_seconds_count')
  })
})
