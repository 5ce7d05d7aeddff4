/** Default and largest number of logs one `getLogs` call returns. */
export const DEFAULT_LOG_LIMIT = 1000
export const MAX_LOG_LIMIT = 10_000
