// Hive Gateway in front of the Coursegraph subgraphs for bench/stack.py: the router
// credential as in docs/hive-gateway.config.mjs, the client's token passed on, and
// request de-duplication OFF as in hive.config.mjs (identical concurrent page requests
// sharing one execution would be a benchmark artefact).
const credential = process.env.ROUTER_SHARED_SECRET;
if (!credential) {
  throw new Error('Set ROUTER_SHARED_SECRET to the value the subgraphs have.');
}

export const gatewayConfig = {
  inboundInflightRequestDeduplication: false,
  transportEntries: {
    '*.http': { options: { deduplicateInflightRequests: false } },
  },
  propagateHeaders: {
    fromClientToSubgraphs: ({ request }) => ({
      authorization: request.headers.get('authorization') ?? undefined,
      'x-router-credential': credential,
    }),
  },
};
