// In a checkout, `chainstore` and its subpaths resolve to the TypeScript
// sources (Node strips their types), so the examples run unbuilt exactly as
// they are written for users: `node --import ./scripts/source-exports.mjs
// examples/embed.ts`. The map comes from package.json's `exports` (each
// dist/*.js entry → its src/*.ts); an installed package resolves through
// `exports` itself and never needs this.
import { readFileSync } from 'node:fs'
import { registerHooks } from 'node:module'

const root = new URL('../', import.meta.url)
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'))
const map = new Map()
for (const [path, target] of Object.entries(pkg.exports)) {
  if (typeof target !== 'object') continue
  const name = path === '.' ? pkg.name : `${pkg.name}${path.slice(1)}`
  map.set(name, new URL(target.import.replace('./dist/', 'src/').replace(/\.js$/, '.ts'), root).href)
}
registerHooks({
  resolve (specifier, context, next) {
    const url = map.get(specifier)
    return url != null ? { url, shortCircuit: true } : next(specifier, context)
  }
})
