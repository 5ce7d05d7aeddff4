import { once } from 'node:events'
import { createServer } from 'node:net'

/** Polls `check` every `everyMs` until it holds; false once `ms` have passed. */
export async function eventually (check: () => Promise<boolean>, ms: number, everyMs = 200): Promise<boolean> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await check()) return true
    await new Promise(resolve => setTimeout(resolve, everyMs))
  }
  return false
}

/** Polls `check` until it holds; throws naming `what` once `ms` have passed. */
export async function until (check: () => Promise<boolean>, ms = 30_000, what = 'a condition'): Promise<void> {
  if (!(await eventually(check, ms))) throw new Error(`timed out waiting for ${what}`)
}

/** A TCP port free on 127.0.0.1 right now. */
export async function freePort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  if (address == null || typeof address === 'string') throw new Error('no port')
  server.close()
  await once(server, 'close')
  return address.port
}
