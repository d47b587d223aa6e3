// Hive Gateway in front of the Coursegraph subgraphs (README "Behind another router").
// The subgraphs answer only signed callers. Hive Gateway cannot sign, so it sends the
// shared router credential, the same value as ROUTER_SHARED_SECRET on every subgraph;
// the subgraphs then treat it as the router.
const credential = process.env.ROUTER_SHARED_SECRET;
if (!credential) {
  throw new Error('Set ROUTER_SHARED_SECRET to the value the subgraphs have.');
}

export const gatewayConfig = {
  propagateHeaders: {
    fromClientToSubgraphs: ({ request }) => ({
      authorization: request.headers.get('authorization') ?? undefined,
      'x-router-credential': credential,
    }),
  },
};
