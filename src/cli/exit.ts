/** Exit codes, documented in docs/OPERATIONS.md's table (one test, test/cli-errors.test.ts, drives each). */
export const EXIT = { OK: 0, ERROR: 1, USAGE: 2, NOT_FOUND: 3, LOCKED: 4, READ_ONLY: 5, INTERRUPTED: 130 } as const
