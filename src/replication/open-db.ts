import type { Logger } from '../logger.ts'

/**
 * Opens an OrbitDB database with a listener on its sync errors before sync
 * starts. OrbitDB's sync emits 'error' on the database's EventEmitter when a
 * head exchange fails (a peer resets the stream or sends bytes that do not
 * decode); with no listener Node throws it and the process dies.
 * Opened with the default `sync: true`, the exchange starts inside `open`,
 * so a listener attached afterwards can be too late: a peer restarted into a
 * lossy network died at start (the partition fault test caught it). Here the
 * database opens with `sync: false`, gets its listener, then starts sync.
 * An address already open returns the open instance (OrbitDB caches it);
 * starting its sync again is a no-op.
 */
export async function openDatabase (orbitdb: any, address: string, options: Record<string, unknown>, database: string, log: Logger): Promise<any> {
  const db = await orbitdb.open(address, { ...options, sync: false })
  db.events.on('error', (err: Error) => log.debug({ database, err: err.message }, 'orbitdb sync error'))
  await db.sync.start()
  return db
}
