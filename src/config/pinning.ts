import { z } from 'zod'

/* The pin policy's shape, for the config to validate `pinning` (the policy itself lives in src/pinning). */

/** What a pinned root holds. */
export const PIN_KINDS = ['header', 'page', 'state', 'snapshot', 'attestation', 'blob'] as const
export type PinKind = typeof PIN_KINDS[number]

/** The presets shipped in `pinning/`. */
export const PRESETS = ['archive', 'validator', 'light'] as const
export type PresetName = typeof PRESETS[number]

/**
 * One rule: it keeps items of `kinds` that pass every condition it names.
 * - `window`: the item's height is within `window` heights of the head
 *   (head − height < window);
 * - `checkpointEvery`: the height is a multiple of it;
 * - `finalizedOnly`: the item's block is finalized;
 * - `ttlMs`: the item was stored less than `ttlMs` ago.
 * A rule with no condition keeps every item of its kinds.
 */
export const pinRuleSchema = z.object({
  kinds: z.array(z.enum(PIN_KINDS)).min(1),
  window: z.number().int().positive().optional(),
  checkpointEvery: z.number().int().positive().optional(),
  finalizedOnly: z.boolean().optional(),
  ttlMs: z.number().int().positive().optional()
}).strict()
export type PinRule = z.infer<typeof pinRuleSchema>

export const pinPolicySchema = z.object({
  name: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/),
  description: z.string().max(500).default(''),
  rules: z.array(pinRuleSchema).min(1)
}).strict()
export type PinPolicy = z.infer<typeof pinPolicySchema>
