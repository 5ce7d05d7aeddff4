import { fallbackRouter } from '@helia/fallback-router'
import { withHTTP } from '@helia/http'
import { createHeliaLight } from 'helia'

/**
 * A Helia with no libp2p and no delegated routers whose only way to a block
 * is the trustless gateway at `url` (a client that is not ours, for the
 * gateway tests). Not through `recursiveGateways`: Helia 7 consults fallback
 * routers only after the others finish, and with no other router its
 * findProviders never finishes (the fetch hangs). So the gateway is offered
 * by an ordinary router, a fallback router stripped of 'fallback'.
 * `transformRequestInit` changes every request its gateway client sends.
 */
export function heliaThroughGateway (url: string, options: { transformRequestInit?: (init: RequestInit) => RequestInit } = {}) {
  const gateway = fallbackRouter({ gateways: [url], shuffle: false })
  return withHTTP(createHeliaLight({
    routers: [{ name: 'chainstore-gateway', findProviders: (cid, o) => gateway.findProviders!(cid, o) }]
  }), {
    delegatedRouters: [],
    recursiveGateways: [],
    allowInsecure: true,
    allowLocal: true,
    ...(options.transformRequestInit != null ? { transformRequestInit: options.transformRequestInit } : {})
  })
}
