/** Polls `check` every `everyMs` until it holds; false once `ms` have passed. */
export async function eventually (check: () => Promise<boolean>, ms: number, everyMs = 200): Promise<boolean> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await check()) return true
    await new Promise(resolve => setTimeout(resolve, everyMs))
  }
  return false
}

/** Polls `check` until it holds; throws naming `what` once `ms` have passed. */
export async function until (check: () => Promise<boolean>, ms = 30_000, what = 'a condition'): Promise<void> {
  if (!(await eventually(check, ms))) throw new Error(`timed out waiting for ${what}`)
}
