// @apollo/gateway behind @apollo/server's standalone HTTP server, for bench/run.py.
//   node gateways/apollo.mjs --supergraph supergraph.graphql --host 127.0.0.1 --port 4300
// Apollo Gateway has no inbound request de-duplication; nothing to turn off.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { ApolloGateway } from "@apollo/gateway";
import { ApolloServer } from "@apollo/server";
import { startStandaloneServer } from "@apollo/server/standalone";

const { values } = parseArgs({
  options: {
    supergraph: { type: "string", default: "supergraph.graphql" },
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "4300" },
  },
});
const gateway = new ApolloGateway({ supergraphSdl: readFileSync(values.supergraph, "utf8") });
const server = new ApolloServer({ gateway });
const { url } = await startStandaloneServer(server, {
  listen: { host: values.host, port: Number(values.port) },
});
console.log(`Apollo Gateway ready at ${url}`);
