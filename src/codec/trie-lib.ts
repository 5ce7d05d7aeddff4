import { createRequire } from 'node:module'
import type * as TrieModule from '@ethereumjs/trie'
import type * as UtilModule from '@ethereumjs/util'

/**
 * @ethereumjs/trie and @ethereumjs/util, loaded on first use instead of at
 * import: together with their crypto they are ~80 files and ~100 ms, and a
 * store opens without touching a trie until state is read, written or
 * walked. `require` returns their CommonJS builds (both packages ship
 * both); every use in chainstore goes through here, so node classes are
 * one instance and `instanceof` holds.
 */
const require = createRequire(import.meta.url)
let trie: typeof TrieModule | undefined
let util: typeof UtilModule | undefined

export function trieLib (): typeof TrieModule {
  trie ??= require('@ethereumjs/trie') as typeof TrieModule
  return trie
}

export function ethUtilLib (): typeof UtilModule {
  util ??= require('@ethereumjs/util') as typeof UtilModule
  return util
}

