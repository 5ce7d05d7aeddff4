/** Names of the events a store emits (`store.events.on(STORE_EVENTS.block, …)`). */
export const STORE_EVENTS = { block: 'block', head: 'head', reorg: 'reorg', gc: 'gc' } as const
