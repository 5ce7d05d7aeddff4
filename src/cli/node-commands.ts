import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { networkInterfaces } from 'node:os'
import { dirname, join } from 'node:path'
import type { Command } from 'commander'
import { InvalidConfigError, parseConfig, type ChainStoreConfig } from '../config/index.ts'
import { loadNodeKey } from '../node-key.ts'
import { CONFIG_FILE_NAME, nodePlaces, type NodePlaces } from './home.ts'
import { outputFileError } from './input.ts'

/** What the node commands use of the CLI's composition (src/cli/main.ts). */
export interface NodeCliContext {
  config: () => Promise<ChainStoreConfig>
  globals: () => { config?: string, dataDir?: string }
  print: (human: string, data: unknown) => void
}

/** `chainstore id` and `chainstore config show|set`. */
export function registerNodeCommands (program: Command, ctx: NodeCliContext): void {
  program.command('id')
    .description('this node\'s libp2p peer id, its writer identity (what other nodes list in network.writers) and its addresses')
    .addHelpText('after', '\nThe keys are made on first use and kept in <data dir>/network (or derived from network.seed).\nExample:\n  $ chainstore id --json')
    .action(async () => {
      const cfg = await ctx.config()
      const ids = await nodeIds(cfg)
      ctx.print([
        `peer id     ${ids.peerId}`,
        `identity    ${ids.identity}`,
        `listen      ${cfg.network.listen.join(', ')}`,
        `announce    ${cfg.network.announce.length > 0 ? cfg.network.announce.join(', ') : '(the listen addresses)'}`,
        `dial me as  ${ids.addresses.join(', ')}`,
        'databases   (OrbitDB addresses a follower opens; a stock OrbitDB app registers chainstore/orbitdb-access)',
        ...Object.entries(ids.databases).map(([name, address]) => `  ${name.padEnd(10)} ${address}`)
      ].join('\n'), ids)
    })

  const config = program.command('config').description('show the config this node runs with, or set one key in its config file')
  config.command('show [key]')
    .description('the effective config (file, CHAINSTORE_* variables and flags applied; defaults filled in), or one key of it')
    .addHelpText('after', '\nExamples:\n  $ chainstore config show\n  $ chainstore config show network.listen')
    .action(async (key?: string) => {
      const cfg = await ctx.config()
      const places = nodePlaces(ctx.globals())
      if (key != null) {
        const value = at(cfg, key)
        if (value === undefined) throw new InvalidConfigError(`config show: no key ${key} (keys: docs/CONFIG.md)`)
        ctx.print(typeof value === 'string' ? value : JSON.stringify(value, null, 2), { key, value })
        return
      }
      ctx.print([
        `home        ${places.home} (${places.homeFrom})`,
        `config file ${places.configFile ?? 'none'} (${places.configFrom})`,
        JSON.stringify(cfg, null, 2)
      ].join('\n'), { home: places.home, homeFrom: places.homeFrom, configFile: places.configFile ?? null, configFrom: places.configFrom, config: cfg })
    })
  config.command('set <key> <value>')
    .description('set one key (dotted path) in the config file (the one in use, else <home>/config.json); the value is JSON, or a string')
    .addHelpText('after', '\nThe result is validated before it is written.\nExamples:\n  $ chainstore config set api.port 8080\n  $ chainstore config set network.enabled true\n  $ chainstore config set network.peers \'["/ip4/10.0.0.1/tcp/4001/p2p/12D3…"]\'')
    .action(async (key: string, raw: string) => {
      const places = nodePlaces(ctx.globals())
      const file = places.configFile ?? join(places.home, CONFIG_FILE_NAME)
      const current = await readConfigFile(file, places)
      let value: unknown
      try { value = JSON.parse(raw) } catch { value = raw }
      const next = setAt(current, key, value)
      parseConfig(next) // throws InvalidConfigError naming the key when the result is no config
      await mkdir(dirname(file), { recursive: true }).catch(err => { throw outputFileError(file, err) })
      await writeFile(file, JSON.stringify(next, null, 2) + '\n').catch(err => { throw outputFileError(file, err) })
      ctx.print(`set ${key} = ${JSON.stringify(value)} in ${file}`, { file, key, value })
    })
}

async function readConfigFile (file: string, places: NodePlaces): Promise<Record<string, unknown>> {
  let text: string
  try { text = await readFile(file, 'utf8') } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && places.configFrom === 'none') return {}
    throw new InvalidConfigError(`cannot read config file ${file}: ${(err as Error).message}`, { cause: err })
  }
  const parsed: unknown = JSON.parse(text)
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new InvalidConfigError(`config file ${file} does not hold a JSON object`)
  return parsed as Record<string, unknown>
}

function at (obj: unknown, path: string): unknown {
  let v: any = obj
  for (const part of path.split('.')) {
    if (v == null || typeof v !== 'object' || !Object.hasOwn(v, part)) return undefined
    v = v[part]
  }
  return v
}

function setAt (obj: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  const parts = path.split('.')
  if (parts.some(p => p === '' || p === '__proto__' || p === 'constructor' || p === 'prototype')) throw new InvalidConfigError(`config set: ${path} is not a config key`)
  const out: Record<string, any> = structuredClone(obj)
  let v = out
  for (const part of parts.slice(0, -1)) {
    if (v[part] == null || typeof v[part] !== 'object' || Array.isArray(v[part])) v[part] = {}
    v = v[part]
  }
  v[parts[parts.length - 1]] = value
  return out
}

/** Peer id, identity and dialable addresses of the node a config describes (see `chainstore id`). */
async function nodeIds (cfg: ChainStoreConfig): Promise<{ peerId: string, identity: string, addresses: string[], databases: { chain: string, validators: string, reputation: string } }> {
  const seed = cfg.network.seed
  const { identityIdFromSeed, IDENTITY_KEY_NAME, NETWORK_DIR } = await import('../replication/keys.ts')
  const { peerId } = await loadNodeKey(cfg.dataDir, seed)
  let identity: string
  if (seed != null) identity = identityIdFromSeed(seed)
  else {
    const { KeyStore } = await import('@orbitdb/core')
    let keystore
    try {
      keystore = await KeyStore({ path: join(cfg.dataDir, NETWORK_DIR, 'orbitdb', 'keystore') })
    } catch (err) {
      // a running node holds the keystore: it says who it is
      const res = await fetch(`http://${cfg.api.host}:${cfg.api.port}/status`).catch(() => undefined)
      const net = res?.ok === true ? (await res.json() as { network?: { peerId: string, identity: string, addresses: string[] } }).network : undefined
      if (net == null) throw err
      return { peerId: net.peerId, identity: net.identity, addresses: dialable(net.addresses), databases: await databasesOf(cfg, net.identity) }
    }
    try {
      const key = (await keystore.getKey(IDENTITY_KEY_NAME)) ?? await keystore.createKey(IDENTITY_KEY_NAME)
      identity = keystore.getPublic(key) as string
    } finally { await keystore.close() }
  }
  const base = cfg.network.announce.length > 0 ? cfg.network.announce : cfg.network.listen.flatMap(hostAddresses)
  return { peerId, identity, addresses: dialable(base.map(a => `${a}/p2p/${peerId}`)), databases: await databasesOf(cfg, identity) }
}

/** The OrbitDB addresses of the replicated databases this config opens (what a follower, chainstore or stock OrbitDB, opens), computed without the node. */
async function databasesOf (cfg: ChainStoreConfig, identity: string): Promise<{ chain: string, validators: string, reputation: string }> {
  const { chainstoreAddresses } = await import('../replication/orbitdb-access.ts')
  return await chainstoreAddresses({ name: cfg.network.name, writers: cfg.network.writers.length > 0 ? cfg.network.writers : [identity] })
}

/**
 * A wildcard listen address (`/ip4/0.0.0.0/…`, `/ip6/::/…`) as the addresses
 * of this host's interfaces, as libp2p expands it when the node starts: what
 * another host can dial, which the wildcard itself is not.
 */
function hostAddresses (listen: string): string[] {
  const m = /^\/(ip4\/0\.0\.0\.0|ip6\/::)(\/.*)$/.exec(listen)
  if (m == null) return [listen]
  const family = m[1].startsWith('ip4') ? 'IPv4' : 'IPv6'
  const out = Object.values(networkInterfaces()).flatMap(list => list ?? [])
    // link-local IPv6 needs a zone no multiaddr here carries
    .filter(i => i.family === family && !/^fe80:/i.test(i.address))
    .map(i => `/${family === 'IPv4' ? 'ip4' : 'ip6'}/${i.address}${m[2]}`)
  return out.length > 0 ? out : [listen]
}

/** Addresses for another host: loopback ones left out, unless nothing else is left (a node listening on 127.0.0.1 only). */
function dialable (addresses: string[]): string[] {
  const outside = addresses.filter(a => !/^\/(ip4\/127\.|ip6\/::1\/)/.test(a))
  return outside.length > 0 ? outside : addresses
}
