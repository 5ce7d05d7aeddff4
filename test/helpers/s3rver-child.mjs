// An s3rver (S3-compatible test server) on 127.0.0.1 in its own process, so a test can kill it mid-request.
// argv: port, directory, bucket names...; prints "listening <port>" once up.
import S3rver from 's3rver'

const [port, directory, ...buckets] = process.argv.slice(2)
const server = new S3rver({ address: '127.0.0.1', port: Number(port), directory, silent: true, configureBuckets: buckets.map(name => ({ name })) })
const address = await server.run()
process.stdout.write(`listening ${address.port}\n`)
process.on('SIGTERM', () => { void server.close().then(() => process.exit(0)) })
