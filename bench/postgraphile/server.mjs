// PostGraphile 5 on Node's HTTP server: one process (bench/stack.py starts it).
//   DATABASE_URL=postgresql://pgl_visitor@/coursegraph?host=… node server.mjs HOST PORT
import { createServer } from "node:http";
import { postgraphile } from "postgraphile";
import { grafserv } from "postgraphile/grafserv/node";
import preset from "./graphile.config.mjs";

const [host, port] = process.argv.slice(2);
const pgl = postgraphile(preset);
const serv = pgl.createServ(grafserv);
const server = createServer();
server.on("error", (error) => {
  console.error(error);
  process.exit(1);
});
await serv.addTo(server);
// Build the schema before the first request, so readiness means ready.
await pgl.getSchema();
server.listen(Number(port), host, () => console.log(`PostGraphile on http://${host}:${port}/graphql`));
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    server.close();
    pgl.release().then(() => process.exit(0));
  });
}
