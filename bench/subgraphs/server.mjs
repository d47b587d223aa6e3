// The four bench subgraphs (accounts, inventory, products, reviews) in ONE Node process,
// served at http://HOST:PORT/<name>. Schemas are built by @apollo/subgraph from the SDL
// files beside this one; execution is graphql-js.
//
// They must never be the bottleneck of a gateway benchmark, so:
//   - parsed + validated documents are cached per query text;
//   - complete responses are cached per (subgraph, request body) — the data is static, so
//     a response depends on the body alone (SUBGRAPH_CACHE=0 turns this off);
//   - plain node:http, keep-alive, no framework.
//
// Extra endpoints for bench/run.py:
//   GET  /health           -> "OK"
//   GET  /__stats          -> request counters, CPU time of this process, distinct bodies
//   POST /__reset          -> zero the counters and forget the distinct bodies
//
// Usage: node subgraphs/server.mjs [--host 127.0.0.1] [--port 4210]
import http from "node:http";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { execute, parse, validate } from "graphql";
import { buildSubgraphSchema } from "@apollo/subgraph";
import { products, reviews, users } from "./data.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const { values: args } = parseArgs({
  options: {
    host: { type: "string", default: process.env.HOST ?? "127.0.0.1" },
    port: { type: "string", default: process.env.PORT ?? "4210" },
  },
});
const useCache = process.env.SUBGRAPH_CACHE !== "0";

const byId = (list, key) => new Map(list.map((x) => [x[key], x]));
const usersById = byId(users, "id");
const productsByUpc = byId(products, "upc");
const reviewsById = byId(reviews, "id");
const reviewOut = (r) => (r ? { id: r.id, body: r.body, product: { upc: r.upc } } : null);

const resolvers = {
  accounts: {
    Query: {
      me: () => users[0],
      user: (_, { id }) => usersById.get(id) ?? null,
      users: () => users,
    },
    User: { __resolveReference: (ref) => usersById.get(ref.id) ?? null },
  },
  inventory: {
    Product: {
      __resolveReference: (ref) => {
        const p = productsByUpc.get(ref.upc);
        return p ? { upc: p.upc, inStock: p.inStock, price: ref.price, weight: ref.weight } : null;
      },
      shippingEstimate: (p) => {
        if (p.price == null) return null;
        if (p.price > 1000) return 0;
        return p.weight == null ? null : Math.floor(p.weight / 2);
      },
    },
  },
  products: {
    Query: { topProducts: (_, { first }) => products.slice(0, first ?? 5) },
    Product: { __resolveReference: (ref) => productsByUpc.get(ref.upc) ?? null },
  },
  reviews: {
    Review: {
      __resolveReference: (ref) => reviewOut(reviewsById.get(ref.id)),
      // Every review's author is user 1, whose username this subgraph provides.
      author: () => ({ id: "1", username: "urigo" }),
    },
    User: {
      __resolveReference: (ref) => ({ id: ref.id }),
      reviews: () => reviews.slice(0, 2).map(reviewOut),
    },
    Product: {
      __resolveReference: (ref) => ({ upc: ref.upc }),
      reviews: (p) => reviews.filter((r) => r.upc === p.upc).map(reviewOut),
    },
  },
};

const subgraphs = new Map();
for (const name of Object.keys(resolvers)) {
  const typeDefs = parse(readFileSync(join(here, `${name}.graphql`), "utf8"));
  const schema = buildSubgraphSchema([{ typeDefs, resolvers: resolvers[name] }]);
  subgraphs.set(`/${name}`, { name, schema, documents: new Map(), responses: new Map() });
}

const MAX_CACHE = 5000;
let stats = newStats();
function newStats() {
  return { requests: 0, cacheHits: 0, byRoute: {}, distinct: new Map() };
}

async function runGraphQL(sg, body) {
  let payload;
  try {
    payload = JSON.parse(body);
  } catch {
    return [400, JSON.stringify({ errors: [{ message: "invalid JSON body" }] })];
  }
  const { query, variables, operationName } = payload;
  let document = sg.documents.get(query);
  if (document === undefined) {
    try {
      document = parse(query);
    } catch (e) {
      return [400, JSON.stringify({ errors: [{ message: String(e.message) }] })];
    }
    const errors = validate(sg.schema, document);
    if (errors.length) return [400, JSON.stringify({ errors })];
    if (sg.documents.size < MAX_CACHE) sg.documents.set(query, document);
  }
  const result = await execute({
    schema: sg.schema,
    document,
    variableValues: variables,
    operationName,
  });
  return [200, JSON.stringify(result), !result.errors];
}

function send(res, status, text, type = "application/json") {
  res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(text) });
  res.end(text);
}

const server = http.createServer((req, res) => {
  if (req.method === "GET") {
    if (req.url === "/health") return send(res, 200, "OK", "text/plain");
    if (req.url === "/__stats") {
      const cpu = process.cpuUsage();
      return send(
        res,
        200,
        JSON.stringify({
          requests: stats.requests,
          cacheHits: stats.cacheHits,
          byRoute: stats.byRoute,
          cpuSeconds: (cpu.user + cpu.system) / 1e6,
          responseCache: useCache,
          distinct: [...stats.distinct.values()],
        }),
      );
    }
    return send(res, 404, "not found", "text/plain");
  }
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", async () => {
    if (req.url === "/__reset") {
      stats = newStats();
      return send(res, 200, "{}");
    }
    const sg = subgraphs.get(req.url);
    if (!sg) return send(res, 404, JSON.stringify({ errors: [{ message: "no such subgraph" }] }));
    const body = Buffer.concat(chunks).toString("utf8");
    stats.requests++;
    stats.byRoute[sg.name] = (stats.byRoute[sg.name] ?? 0) + 1;
    const key = sg.name + "\n" + body;
    const seen = stats.distinct.get(key);
    if (seen) seen.count++;
    else if (stats.distinct.size < 200) stats.distinct.set(key, { route: req.url, body, count: 1 });
    const cached = useCache ? sg.responses.get(body) : undefined;
    if (cached !== undefined) {
      stats.cacheHits++;
      return send(res, 200, cached);
    }
    try {
      const [status, text, cacheable] = await runGraphQL(sg, body);
      if (useCache && cacheable && sg.responses.size < MAX_CACHE) sg.responses.set(body, text);
      send(res, status, text);
    } catch (e) {
      send(res, 500, JSON.stringify({ errors: [{ message: String(e?.message ?? e) }] }));
    }
  });
});
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;
server.listen(Number(args.port), args.host, () => {
  console.log(
    `bench subgraphs on http://${args.host}:${args.port}/{accounts,inventory,products,reviews}` +
      ` (response cache ${useCache ? "on" : "off"})`,
  );
});
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => server.close(() => process.exit(0)));
