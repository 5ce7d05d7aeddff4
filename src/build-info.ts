import { readFileSync } from 'node:fs'

/** What this build of chainstore is: the package version and the commit it was built from (`unknown` when neither a build nor a checkout says). */
export interface BuildInfo { version: string, commit: string }

let cached: BuildInfo | undefined

/**
 * Read once: the version from package.json (two levels up from src/ and from
 * dist/ alike), the commit from `dist/build-info.json` (written by
 * `npm run build`) or, in a source checkout, from `.git`.
 */
export function buildInfo (): BuildInfo {
  if (cached != null) return cached
  const version = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version
  cached = { version, commit: builtCommit() ?? checkoutCommit() ?? 'unknown' }
  return cached
}

function builtCommit (): string | undefined {
  try { return (JSON.parse(readFileSync(new URL('./build-info.json', import.meta.url), 'utf8')) as { commit?: string }).commit } catch { return undefined }
}

function checkoutCommit (): string | undefined {
  try {
    const head = readFileSync(new URL('../.git/HEAD', import.meta.url), 'utf8').trim()
    if (!head.startsWith('ref: ')) return head.slice(0, 40)
    const ref = head.slice(5)
    try { return readFileSync(new URL(`../.git/${ref}`, import.meta.url), 'utf8').trim() } catch {}
    const packed = readFileSync(new URL('../.git/packed-refs', import.meta.url), 'utf8')
    return packed.split('\n').find(l => l.endsWith(` ${ref}`))?.split(' ')[0]
  } catch { return undefined }
}
