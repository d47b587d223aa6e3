// Hive Gateway (JavaScript query planner) for bench/run.py:
//   hive-gateway supergraph supergraph.graphql -c gateways/hive.config.mjs --fork 1 ...
// Request de-duplication OFF, inbound (identical concurrent client requests sharing one
// execution) and outbound (identical in-flight subgraph requests sharing one fetch).
export const gatewayConfig = {
  inboundInflightRequestDeduplication: false,
  transportEntries: {
    "*.http": { options: { deduplicateInflightRequests: false } },
  },
};
