import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { PRESETS, pinPolicySchema, type PinKind, type PinPolicy, type PinRule, type PresetName } from '../config/pinning.ts'
import { InvalidPinPolicyError } from './errors.ts'

export { PIN_KINDS, PRESETS, pinRuleSchema, pinPolicySchema, type PinKind, type PresetName, type PinRule, type PinPolicy } from '../config/pinning.ts'

export { InvalidPinPolicyError }

/** One item the policy decides about. */
export interface PinItem {
  kind: PinKind
  /** Height of the block it belongs to (blobs and attestations may have none). */
  height?: number
  finalized?: boolean
  /** Milliseconds since the epoch when it was stored. */
  storedAt?: number
}

/** What the decision is measured against. */
export interface PinContext {
  head: number
  now: number
}

const PRESET_DIR = new URL('../../pinning/', import.meta.url)

function parsePolicy (value: unknown, source: string): PinPolicy {
  const parsed = pinPolicySchema.safeParse(value)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new InvalidPinPolicyError(`${source}: ${issue.path.join('.') || '(root)'}: ${issue.message}`)
  }
  return parsed.data
}

/** Loads a preset from `pinning/<name>.json`. */
export async function loadPreset (name: string): Promise<PinPolicy> {
  if (!(PRESETS as readonly string[]).includes(name)) throw new InvalidPinPolicyError(`pin preset: expected one of ${PRESETS.join(', ')}, got ${JSON.stringify(name)}`)
  const file = fileURLToPath(new URL(`${name}.json`, PRESET_DIR))
  let json: unknown
  try { json = JSON.parse(await readFile(file, 'utf8')) } catch (err) { throw new InvalidPinPolicyError(`pin preset ${name}: cannot read ${file}`, { cause: err }) }
  return parsePolicy(json, `pinning/${name}.json`)
}

/**
 * A preset with a node's overrides: `rules` replaces the preset's rules
 * (whole), any other field replaces the preset's.
 */
export async function resolvePolicy (preset: PresetName, overrides: Partial<PinPolicy> = {}): Promise<PinPolicy> {
  const base = await loadPreset(preset)
  return parsePolicy({ ...base, ...overrides }, `pin policy (preset ${preset} with overrides)`)
}

function ruleKeeps (rule: PinRule, item: PinItem, ctx: PinContext): boolean {
  if (!rule.kinds.includes(item.kind)) return false
  const needsHeight = rule.window != null || rule.checkpointEvery != null
  if (needsHeight && item.height == null) return false
  if (rule.window != null && (item.height! > ctx.head || ctx.head - item.height! >= rule.window)) return false
  if (rule.checkpointEvery != null && item.height! % rule.checkpointEvery !== 0) return false
  if (rule.finalizedOnly === true && item.finalized !== true) return false
  if (rule.ttlMs != null && (item.storedAt == null || ctx.now - item.storedAt >= rule.ttlMs)) return false
  return true
}

/** The indexes of the rules that keep an item: pinned while this is non-empty (a reference count by reason). */
export function keptBy (policy: PinPolicy, item: PinItem, ctx: PinContext): number[] {
  const out: number[] = []
  for (let i = 0; i < policy.rules.length; i++) if (ruleKeeps(policy.rules[i], item, ctx)) out.push(i)
  return out
}

/**
 * When the head moves from `from` to `to`, the heights whose blocks of `kind`
 * may leave the policy: those that fall out of a window rule and are not kept
 * by a rule without a window. Returned as ranges so callers unpin in bulk;
 * each candidate is then re-checked with {@link keptBy} (checkpoints and
 * finality stay).
 */
export function leavingWindow (policy: PinPolicy, kind: PinKind, from: number, to: number): Array<{ from: number, to: number }> {
  if (to <= from) return []
  const rules = policy.rules.filter(r => r.kinds.includes(kind))
  // an unconditional rule keeps every height of this kind
  if (rules.some(r => r.window == null && r.checkpointEvery == null && r.finalizedOnly !== true && r.ttlMs == null)) return []
  const windows = rules.filter(r => r.window != null).map(r => r.window!)
  if (windows.length === 0) return []
  const widest = Math.max(...windows)
  // heights h with from − h < widest ≤ to − h
  const lo = Math.max(0, from - widest + 1)
  const hi = to - widest
  return hi >= lo ? [{ from: lo, to: hi }] : []
}
