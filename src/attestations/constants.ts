/** One day in milliseconds. */
export const DAY_MS = 86_400_000

export { DEFAULT_SCORE_RETENTION_DAYS, DEFAULT_COMMITMENT_RETENTION_DAYS, DEFAULT_PAYLOAD_RETENTION_DAYS, DEFAULT_MAX_CLOCK_SKEW_MS, DEFAULT_MASTER_KEY_ENV } from '../config/constants.ts'

/** Scores are fractions: 0 (lowest) to 1 (highest). */
export const SCORE_MIN = 0
export const SCORE_MAX = 1
/**
 * Fixed histogram bins per rollup bucket over [SCORE_MIN, SCORE_MAX]: bin
 * width 0.01, so a p50/p90 read from a rollup is within 0.005 of the exact
 * nearest-rank percentile (and exact when the bucket holds one value).
 */
export const HISTOGRAM_BINS = 100

/** Most named score dimensions one attestation may carry. */
export const MAX_SCORE_DIMENSIONS = 16
/** Largest private payload accepted, before encryption. */
export const MAX_PAYLOAD_BYTES = 64 * 1024
/** Most attestations one `ingest` call (one LevelDB batch) may carry. */
export const MAX_INGEST_BATCH = 100_000
/** Largest page `range` hands out. */
export const MAX_RANGE_LIMIT = 10_000
/** Page size of `range` when the caller names none. */
export const DEFAULT_RANGE_LIMIT = 1000
/** Most buckets one `aggregate` call returns. */
export const MAX_AGGREGATE_BUCKETS = 100_000
/** Records handled per LevelDB batch while sweeping or erasing. */
export const SWEEP_CHUNK = 5000

/** Bucket resolutions of the rollups. `round` buckets by height, the rest by UTC time. */
export const RESOLUTIONS = ['round', 'minute', 'hour', 'day'] as const
/** Width of the time buckets in milliseconds. */
export const BUCKET_MS = { minute: 60_000, hour: 3_600_000, day: DAY_MS } as const

/**
 * Field names that carry raw biometric data. Offered anywhere in an
 * attestation (or inside a structured payload) they are refused with
 * RawBiometricFieldError. Compared case-insensitively, ignoring '_' and '-'.
 */
export const RAW_BIOMETRIC_FIELDS = [
  'biometric', 'biometrics', 'biometricData', 'biometricTemplate', 'template',
  'sample', 'samples', 'rawSample', 'raw', 'rawData', 'rawSignal', 'signal', 'signals', 'waveform', 'readingsRaw',
  'heartRate', 'hr', 'hrv', 'bpm', 'pulse', 'ecg', 'ekg', 'eeg', 'emg', 'eda', 'gsr', 'ppg', 'spo2',
  'skinConductance', 'temperature', 'bodyTemperature', 'respiration', 'respirationRate', 'bloodPressure',
  'face', 'faceImage', 'image', 'photo', 'video', 'audio', 'voice', 'voiceprint',
  'fingerprint', 'iris', 'retina', 'gaze', 'pupil', 'keystrokes', 'gait', 'dna'
] as const

/**
 * Field names of the validator's commitment secret. The store must never
 * receive them: with the secret anyone could test guesses against a
 * commitment. Refused with CommitmentSecretFieldError.
 */
export const SECRET_FIELDS = ['secret', 'salt', 'hmacKey', 'key', 'privateKey', 'seed'] as const

/** Fields an attestation may carry; anything else is refused with UnknownFieldError. */
export const ATTESTATION_FIELDS = ['validator', 'height', 'timestamp', 'score', 'scores', 'commitment', 'payload'] as const
/** Fields of a commitment. */
export const COMMITMENT_FIELDS = ['scheme', 'digest', 'nonce'] as const
/** Commitment schemes: HMAC-SHA-256 under the validator's secret over nonce ‖ sample, or SHA-256 over a validator-held salt ‖ sample. */
export const COMMITMENT_SCHEMES = ['hmac-sha256', 'salted-sha256'] as const
/** Bytes of the random nonce of an HMAC commitment (stored; it is not secret). */
export const COMMITMENT_NONCE_BYTES = 16
/** Fewest bytes a commitment secret or salt may have. */
export const MIN_SECRET_BYTES = 16

/** Keystore slot name prefixes: one data key per validator, one per record kind. */
export const VALIDATOR_SLOT = 'validator/'
export const KIND_SLOT = 'kind/'
