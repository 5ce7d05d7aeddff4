import { z } from 'zod'
import type { Logger } from '../logger.ts'
import type { BlocksDb, RootDb } from '../storage/level.ts'
import {
  DAY_MS, DEFAULT_COMMITMENT_RETENTION_DAYS, DEFAULT_MASTER_KEY_ENV, DEFAULT_MAX_CLOCK_SKEW_MS,
  DEFAULT_PAYLOAD_RETENTION_DAYS, DEFAULT_SCORE_RETENTION_DAYS
} from './constants.ts'
import { Keystore, loadMasterKey } from './keystore.ts'
import { AttestationStore } from './store.ts'
import type { RetentionPolicy } from './types.ts'

/** Default interval of the retention sweeper when the store mounts the room. */
export const DEFAULT_SWEEP_INTERVAL_MS = 60 * 60_000

/**
 * The `attestations` section of the node config, for src/config to nest
 * (`attestations: attestationsConfigSchema.prefault({})`). Off unless `enabled`:
 * the room needs a master key, and a node without one must still start.
 */
export const attestationsConfigSchema = z.object({
  enabled: z.boolean().default(false),
  /** File holding the 32-byte master key as hex or base64; when absent, `masterKeyEnv` is read. */
  masterKeyFile: z.string().min(1).optional(),
  masterKeyEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/).default(DEFAULT_MASTER_KEY_ENV),
  retention: z.object({
    scoresDays: z.number().positive().default(DEFAULT_SCORE_RETENTION_DAYS),
    commitmentsDays: z.number().positive().default(DEFAULT_COMMITMENT_RETENTION_DAYS),
    payloadDays: z.number().positive().default(DEFAULT_PAYLOAD_RETENTION_DAYS)
  }).strict().prefault({}),
  maxClockSkewMs: z.number().int().nonnegative().default(DEFAULT_MAX_CLOCK_SKEW_MS),
  sweepIntervalMs: z.number().int().min(1000).default(DEFAULT_SWEEP_INTERVAL_MS),
  /** Other record kinds the keystore seals (`keystore.seal(kind, ...)`), named so operators see what is encrypted at rest. */
  encryptKinds: z.array(z.string().regex(/^[a-z][a-z0-9_.-]{0,63}$/)).default([])
}).strict()

/** The section as written. */
export type AttestationsConfigInput = z.input<typeof attestationsConfigSchema>
/** The section after defaults. */
export type AttestationsConfig = z.output<typeof attestationsConfigSchema>

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
