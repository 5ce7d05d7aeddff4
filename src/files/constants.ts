import type { FileLayoutName, FileProfile } from './types.ts'

/** The import settings a profile stands for; explicit options override each. */
export interface ProfileSettings {
  cidVersion: 0 | 1
  rawLeaves: boolean
  chunkSize: number
  maxChildrenPerNode: number
  layout: FileLayoutName
}

/**
 * IPIP-499's named profiles. `unixfs-v0-2015` is Kubo's default `ipfs add`
 * (CIDv0, dag-pb `file` leaves, 256 KiB chunks, 174 links a node);
 * `unixfs-v1-2025` is CIDv1 with raw leaves, 1 MiB chunks, 1024 links.
 */
export const FILE_PROFILES: Readonly<Record<FileProfile, Readonly<ProfileSettings>>> = {
  'unixfs-v0-2015': { cidVersion: 0, rawLeaves: false, chunkSize: 262_144, maxChildrenPerNode: 174, layout: 'balanced' },
  'unixfs-v1-2025': { cidVersion: 1, rawLeaves: true, chunkSize: 1_048_576, maxChildrenPerNode: 1024, layout: 'balanced' }
}

/** The profile `addFile` uses when none is named (what it has always written). */
export const DEFAULT_FILE_PROFILE: FileProfile = 'unixfs-v1-2025'

/**
 * Largest chunk: 1 MiB, Kubo's own limit for `--chunker=size-N` (a bigger
 * block does not travel over Bitswap to other IPFS nodes). A store whose
 * `limits.maxBlockBytes` is smaller caps it at that instead.
 */
export const MAX_CHUNK_SIZE = 1_048_576

/** Fewest links an inner node may hold: with one, the tree would never narrow. */
export const MIN_CHILDREN_PER_NODE = 2
/** Most links an inner node may hold: at ~50 bytes a link this keeps it under 1 MiB. */
export const MAX_CHILDREN_PER_NODE = 16_384

/** Every key `addFile` options may hold; any other is refused. */
export const ADD_FILE_OPTION_KEYS = ['signal', 'profile', 'cidVersion', 'rawLeaves', 'chunkSize', 'maxChildrenPerNode', 'layout'] as const
