// Compose bench/supergraph.graphql from the four subgraph SDLs with @apollo/composition.
// The result is committed as data; rerun this only when an SDL or the port changes:
//   node bench/compose.mjs [--url http://127.0.0.1:4210]
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { parse } from "graphql";
import { composeServices } from "@apollo/composition";

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: { url: { type: "string", default: "http://127.0.0.1:4210" } },
});
const names = ["accounts", "inventory", "products", "reviews"];
const services = names.map((name) => ({
  name,
  url: `${values.url}/${name}`,
  typeDefs: parse(readFileSync(join(here, "subgraphs", `${name}.graphql`), "utf8")),
}));
const result = composeServices(services);
if (result.errors?.length) {
  for (const e of result.errors) console.error(String(e));
  process.exit(1);
}
for (const h of result.hints ?? []) console.error("hint:", h.toString());
writeFileSync(join(here, "supergraph.graphql"), result.supergraphSdl);
console.log(`wrote ${join(here, "supergraph.graphql")}`);
