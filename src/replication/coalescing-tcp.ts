import { Socket } from 'node:net'
import { tcp, type TCPComponents, type TCPOptions } from '@libp2p/tcp'
import type { MultiaddrConnection, Transport, Upgrader } from '@libp2p/interface'

/**
 * libp2p's TCP transport, with every write a connection makes in one turn of
 * the event loop sent to the socket as one `writev`.
 *
 * Why: @libp2p/tcp (11.0.28) writes each chunk of what it is handed with
 * its own `socket.write`, and noise hands it every message as two chunks,
 * the 2-byte length and the ciphertext. With `noDelay` (libp2p's default,
 * rightly: Nagle's algorithm would hold the second write for an ACK) each
 * chunk is a system call, a TCP segment and a wake-up of the reader. Counted
 * in the replication bench's writer: 55,675 socket writes for ~1,500 block
 * deliveries, 43,504 of them under 64 bytes (2-byte noise lengths and
 * 28-byte yamux window updates). docs/PITFALLS.md has the count after.
 *
 * How: the upgrader the transport hands each new connection to is wrapped,
 * and the connection's socket corks at its first write in a turn and uncorks
 * on the next tick, so Node flushes the turn's writes in one `writev`.
 * Backpressure is unchanged (`write` still answers whether the buffer is
 * under its high-water mark; 'drain' follows the flush). A connection whose
 * socket is not where this looks for it (a later @libp2p/tcp) is left as
 * it is.
 */
export function coalescingTcp (options: TCPOptions = {}): (components: TCPComponents) => Transport {
  const factory = tcp(options)
  return (components) => {
    const transport = factory(components)
    const dial = transport.dial.bind(transport)
    const createListener = transport.createListener.bind(transport)
    transport.dial = async (ma, opts) => await dial(ma, { ...opts, upgrader: coalescingUpgrader(opts.upgrader) })
    transport.createListener = (opts) => createListener({ ...opts, upgrader: coalescingUpgrader(opts.upgrader) })
    return transport
  }
}

/** The upgrader, with each connection it is given set to coalesce its writes first. */
function coalescingUpgrader (upgrader: Upgrader): Upgrader {
  return new Proxy(upgrader, {
    get (target, prop) {
      if (prop === 'upgradeOutbound') return async (maConn: MultiaddrConnection, o: any) => await target.upgradeOutbound(coalesceWrites(maConn), o)
      if (prop === 'upgradeInbound') return async (maConn: MultiaddrConnection, o: any) => { await target.upgradeInbound(coalesceWrites(maConn), o) }
      const value = Reflect.get(target, prop, target)
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
}

/** Makes the connection's socket send the writes of one event-loop turn together. */
export function coalesceWrites<T extends MultiaddrConnection> (maConn: T): T {
  const socket = (maConn as unknown as { socket?: unknown }).socket
  if (!(socket instanceof Socket)) return maConn
  const write = socket.write
  let corked = false
  const uncork = (): void => { corked = false; socket.uncork() }
  socket.write = function (this: Socket, ...args: unknown[]): boolean {
    if (!corked && !socket.destroyed) {
      corked = true
      socket.cork()
      process.nextTick(uncork)
    }
    return (write as (...a: unknown[]) => boolean).apply(this, args)
  } as Socket['write']
  return maConn
}
