// Hive Gateway for bench/subscriptions.py --gateway hive: the test subgraphs take the router
// credential instead of a signature (Hive Gateway cannot sign). Subscriptions to `orders`
// go over graphql-transport-ws (`subscriptions.kind: 'ws'`), the upgrade carrying the
// client's token and the credential as our router's does; Hive Gateway shares one socket
// per distinct header set. Entity fetches: plain HTTP, credential and token passed on.
const credential = process.env.ROUTER_SHARED_SECRET;
if (!credential) {
  throw new Error('Set ROUTER_SHARED_SECRET to the value the subgraphs have.');
}

export const gatewayConfig = {
  transportEntries: {
    orders: {
      options: {
        subscriptions: {
          kind: 'ws',
          headers: [
            ['authorization', '{context.headers.authorization}'],
            ['x-router-credential', credential],
          ],
        },
      },
    },
  },
  propagateHeaders: {
    fromClientToSubgraphs: ({ request }) => ({
      authorization: request.headers.get('authorization') ?? undefined,
      'x-router-credential': credential,
    }),
  },
};
