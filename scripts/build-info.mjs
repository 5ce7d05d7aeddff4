// Writes dist/build-info.json: the commit `npm run build` ran on (src/build-info.ts reads it; `chainstore version`, chainstore_build_info).
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'

let commit = process.env.CHAINSTORE_COMMIT ?? 'unknown'
try { commit = execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() } catch {}
writeFileSync(new URL('../dist/build-info.json', import.meta.url), JSON.stringify({ commit }) + '\n')
