// PostGraphile 5 as a team would run it in production for the public catalog (bench/stack.py,
// docs/benchmarks.md "Reference row: PostGraphile 5"): the Amber preset over the `pgl`
// views (schema.sql), no GraphiQL, no watch mode, no query plans in responses, no
// subscriptions. DATABASE_URL connects as `pgl_visitor`, which may read the views only.
import { makePgService } from "postgraphile/adaptors/pg";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";

/** @type {GraphileConfig.Preset} */
const preset = {
  extends: [PostGraphileAmberPreset],
  // Relay global ids are not part of the pages; without them a row's `id` stays `id`.
  disablePlugins: ["NodePlugin"],
  pgServices: [
    makePgService({
      connectionString: process.env.DATABASE_URL,
      schemas: ["pgl"],
      // The same pool size as each Coursegraph subgraph in the benchmark.
      poolConfig: { max: 10 },
      pubsub: false,
    }),
  ],
  grafserv: {
    graphqlPath: "/graphql",
    graphiql: false,
    watch: false,
    websockets: false,
  },
  grafast: { explain: false },
};

export default preset;
