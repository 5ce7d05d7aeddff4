import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { DestinationSpec } from '../../src/backup/index.ts'
import { freePort } from './wait.ts'

const require = createRequire(import.meta.url)
const S3RVER_CHILD = new URL('./s3rver-child.mjs', import.meta.url).pathname
/** Azurite's blob service entry point (the package's azurite-blob bin). */
const AZURITE_BLOB = join(require.resolve('azurite/package.json'), '..', 'dist', 'src', 'blob', 'main.js')
/** Azurite's well-known development account and key (public: documented by Microsoft for the emulator). */
export const AZURITE_ACCOUNT = 'devstoreaccount1'
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
/** s3rver's one account: it checks the access key id; it does not check SigV4 signatures, so any secret passes. */
export const S3RVER_KEY_ID = 'S3RVER'

let envSeq = 0

/** A real object-storage server in a child process on 127.0.0.1 with its data in a temp dir. */
export interface ObjectServer {
  kind: 's3' | 'azure'
  port: number
  dir: string
  /** A destination spec for `<scheme>://<container>/<prefix>` with credentials in environment variables set here (names in the spec). */
  spec: (container: string, prefix?: string, extra?: Partial<DestinationSpec>) => DestinationSpec
  /** The secret values the specs use (tests check none leaks). */
  secrets: string[]
  /** Kills the server at once (SIGKILL): requests in flight fail. */
  kill: () => Promise<void>
  /** Starts it again on the same port and data dir. */
  restart: () => Promise<void>
  /** Stops it and removes its data. */
  stop: () => Promise<void>
}

async function waitFor (child: ChildProcess, pattern: RegExp, what: string): Promise<void> {
  let out = ''
  await new Promise<void>((resolve, reject) => {
    const onData = (b: Buffer): void => { out += b.toString(); if (pattern.test(out)) { child.stdout!.off('data', onData); resolve() } }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', (b: Buffer) => { out += b.toString() })
    child.once('exit', code => { reject(new Error(`${what} exited (${String(code)}) before listening: ${out}`)) })
  })
}

async function serve (kind: 's3' | 'azure', args: (port: number, dir: string) => string[], ready: RegExp, containers: string[], spec: (port: number) => { env: Record<string, string>, spec: (container: string, prefix?: string) => DestinationSpec, secrets: string[] }): Promise<ObjectServer> {
  const dir = await mkdtemp(join(tmpdir(), `chainstore-${kind}-`))
  const port = await freePort()
  let child: ChildProcess | undefined
  const start = async (): Promise<void> => {
    const c = spawn(process.execPath, args(port, dir), { stdio: ['ignore', 'pipe', 'pipe'] })
    child = c
    await waitFor(c, ready, kind === 's3' ? 's3rver' : 'azurite')
  }
  const kill = async (): Promise<void> => {
    const c = child
    child = undefined
    if (c == null || c.exitCode != null || c.signalCode != null) return
    const exited = once(c, 'exit')
    c.kill('SIGKILL')
    await exited
  }
  await start()
  const s = spec(port)
  Object.assign(process.env, s.env)
  const server: ObjectServer = {
    kind, port, dir,
    spec: (container, prefix, extra = {}) => ({ ...s.spec(container, prefix), ...extra }),
    secrets: s.secrets,
    kill,
    restart: start,
    stop: async () => {
      await kill()
      for (const k of Object.keys(s.env)) Reflect.deleteProperty(process.env, k)
      await rm(dir, { recursive: true, force: true })
    }
  }
  if (kind === 'azure') {
    const { BlobServiceClient } = await import('@azure/storage-blob')
    const svc = BlobServiceClient.fromConnectionString(s.env[Object.keys(s.env)[0]])
    for (const c of containers) await svc.getContainerClient(c).createIfNotExists()
    // Azurite saves its metadata on a timer and at a clean exit: restart it cleanly, so the containers
    // survive a SIGKILL later in the test (blobs committed just before such a kill may still be lost)
    const c = child!
    const exited = once(c, 'exit')
    c.kill('SIGTERM')
    await exited
    await start()
  }
  return server
}

/** s3rver on a free port with `buckets` made; credentials in env vars the spec names. */
export async function startS3rver (buckets: string[] = ['chainstore-bk']): Promise<ObjectServer> {
  const n = ++envSeq
  const secret = `s3-secret-${process.pid}-${n}-e1f9c3`
  return await serve('s3', (port, dir) => [S3RVER_CHILD, String(port), dir, ...buckets], /listening \d+/, [], port => ({
    env: { [`CS_TEST_S3_KEY_${n}`]: S3RVER_KEY_ID, [`CS_TEST_S3_SECRET_${n}`]: secret },
    secrets: [secret],
    spec: (bucket, prefix) => ({ url: `s3://${bucket}${prefix != null ? '/' + prefix : ''}`, endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', accessKeyIdEnv: `CS_TEST_S3_KEY_${n}`, secretAccessKeyEnv: `CS_TEST_S3_SECRET_${n}`, partBytes: 5 << 20 })
  }))
}

/** Azurite's blob service on a free port with `containers` made; a connection string in an env var the spec names. */
export async function startAzurite (containers: string[] = ['chainstore-bk']): Promise<ObjectServer> {
  const n = ++envSeq
  return await serve('azure', (port, dir) => [AZURITE_BLOB, '--blobHost', '127.0.0.1', '--blobPort', String(port), '--location', dir, '--skipApiVersionCheck', '--loose', '--silent', '--disableTelemetry'], /successfully listens/, containers, port => {
    const cs = `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=http://127.0.0.1:${port}/${AZURITE_ACCOUNT};`
    return {
      env: { [`CS_TEST_AZURE_CS_${n}`]: cs },
      secrets: [AZURITE_KEY, cs],
      spec: (container, prefix) => ({ url: `azure://${container}${prefix != null ? '/' + prefix : ''}`, connectionStringEnv: `CS_TEST_AZURE_CS_${n}`, partBytes: 5 << 20 })
    }
  })
}
