/** Role of a devnet peer: a writer is in `network.writers` and ingests; a replica follows and confirms. */
export type DevnetRole = 'writer' | 'replica'

/**
 * Devnet-only facts about a peer that the (strict) config schema has no field
 * for, kept in `peers/devnet.json` beside the profiles.
 */
export interface DevnetPeerSpec {
  name: string
  /** Config file of the peer, relative to the manifest. */
  profile: string
  role: DevnetRole
  writer: boolean
  /** Pinning preset: every peer keeps every block ('archive') until pinning presets land. */
  pinPreset: 'archive'
  peerId: string
  identity: string
  listen: string
  api: string
}

export interface DevnetManifest {
  network: string
  peers: DevnetPeerSpec[]
}
