// Hive Gateway with the Rust query planner (@graphql-hive/router-runtime, native module
// shipped in the npm package) for bench/run.py. De-duplication OFF as in hive.config.mjs.
import { unifiedGraphHandler } from "@graphql-hive/router-runtime";

export const gatewayConfig = {
  unifiedGraphHandler,
  inboundInflightRequestDeduplication: false,
  transportEntries: {
    "*.http": { options: { deduplicateInflightRequests: false } },
  },
};
