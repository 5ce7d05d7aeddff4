import { z } from 'zod'
import {
  DEFAULT_COMMITMENT_RETENTION_DAYS, DEFAULT_MASTER_KEY_ENV, DEFAULT_MAX_CLOCK_SKEW_MS,
  DEFAULT_PAYLOAD_RETENTION_DAYS, DEFAULT_SCORE_RETENTION_DAYS
} from './constants.ts'

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
