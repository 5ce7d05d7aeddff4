import { metaKey } from './keys.ts'
import type { LogDamage, RootDb } from './level.ts'

/** META key of the mark left when LevelDB dropped log records at an open. */
export const LOG_DAMAGE_KEY = metaKey('log-damage')

/** A log-damage mark as stored: when, and what LevelDB reported. */
export interface LogDamageMark extends LogDamage {
  /** ISO time of the open that found it. */
  at: string
}

/** Persists (synced) that this open's recovery dropped log records: it stays until a repair clears it. */
export async function recordLogDamage (db: RootDb, damage: LogDamage): Promise<LogDamageMark> {
  const mark = { ...damage, at: new Date().toISOString() }
  await db.put(LOG_DAMAGE_KEY, new TextEncoder().encode(JSON.stringify(mark)), { sync: true })
  return mark
}

/** The log-damage mark, or null. */
export function readLogDamage (db: Pick<RootDb, 'getSync'>): LogDamageMark | null {
  const bytes = db.getSync(LOG_DAMAGE_KEY)
  if (bytes == null) return null
  try { return JSON.parse(new TextDecoder().decode(bytes)) as LogDamageMark } catch { return { at: '?', droppedBytes: 0, drops: 0, lines: ['(the mark does not decode)'] } }
}

/** One sentence for logs and errors. */
export function describeLogDamage (m: LogDamageMark): string {
  return `LevelDB dropped ${m.droppedBytes} bytes of its write-ahead log (${m.drops} damaged record runs) when the store opened at ${m.at}: writes acknowledged in those records are lost here`
}
