import type { AttestationsConfig } from '../config/attestations.ts'
import type { Logger } from '../logger.ts'
import type { BlocksDb, RootDb } from '../storage/level.ts'
import { DAY_MS } from './constants.ts'
import { Keystore, loadMasterKey } from './keystore.ts'
import { AttestationStore } from './store.ts'
import type { RetentionPolicy } from './types.ts'

export { attestationsConfigSchema, DEFAULT_SWEEP_INTERVAL_MS, type AttestationsConfig, type AttestationsConfigInput } from '../config/attestations.ts'

/** Retention in milliseconds from the config's days. */
export function retentionFromConfig (c: AttestationsConfig['retention']): RetentionPolicy {
  return { scoresMs: Math.round(c.scoresDays * DAY_MS), commitmentsMs: Math.round(c.commitmentsDays * DAY_MS), payloadMs: Math.round(c.payloadDays * DAY_MS) }
}

/** What the composition root hands the room. */
export interface AttestationsComponents {
  db: RootDb
  blocks: BlocksDb
  logger: Logger
  /** The store's `durability === 'power'`. */
  sync: boolean
  env?: NodeJS.ProcessEnv
  now?: () => number
  /** The store's audit trail: local attestation writes, erasures (by validator id only) and key rotations are recorded there. */
  audit?: { append: (kind: 'attestation.written' | 'attestation.erased' | 'key.rotated', detail: Record<string, unknown>) => void } | null
}

/** The mounted room: the keystore, the attestation store and the sweeper, with one stop. */
export interface AttestationsRoom {
  keystore: Keystore
  attestations: AttestationStore
  /** Stops the sweeper and closes the store (the LevelDB handle stays the caller's). */
  stop: () => Promise<void>
}

/**
 * Loads the master key, opens the keystore and the attestation store, and
 * starts the retention sweeper. Throws MissingMasterKeyError,
 * InvalidMasterKeyError or WrongMasterKeyError before anything is written
 * under a key that could not open it again.
 */
export async function startAttestations (config: AttestationsConfig, c: AttestationsComponents): Promise<AttestationsRoom> {
  const masterKey = await loadMasterKey({ file: config.masterKeyFile, envName: config.masterKeyEnv }, { env: c.env, logger: c.logger })
  const keystore = await Keystore.open({ db: c.db, masterKey, logger: c.logger, sync: c.sync })
  const attestations = await AttestationStore.open({
    db: c.db, blocks: c.blocks, keystore, logger: c.logger, sync: c.sync,
    retention: retentionFromConfig(config.retention), maxClockSkewMs: config.maxClockSkewMs, now: c.now
  })
  const log = c.logger.child({ room: 'attestations' })
  const audit = c.audit
  if (audit != null) {
    attestations.onIngest(b => { audit.append('attestation.written', { attestations: b.attestations.length }) })
    attestations.onErasure(r => { audit.append('attestation.erased', { validator: r.validator, erasedAt: r.erasedAt }) })
    keystore.onRotated(keys => { audit.append('key.rotated', { keys }) })
  }
  let sweeping: Promise<unknown> = Promise.resolve()
  const timer = setInterval(() => {
    sweeping = attestations.sweep().catch(err => { log.error({ err }, 'retention sweep failed') })
  }, config.sweepIntervalMs)
  timer.unref()
  return {
    keystore,
    attestations,
    async stop () {
      clearInterval(timer)
      await sweeping
      await attestations.close()
    }
  }
}
