"""The GraphiQL page served to browsers on GET /graphql.

Its scripts and styles are served by the router (`/graphiql-assets/…`), not a CDN, so the
explorer also works on hosts without internet access. Outside production it opens with
the walkthrough's tabs (graphiql_tabs.py) and remembers the access token a sign-in
returns, so the next tabs run as that user; in production it is the plain explorer.
Where the router answers `X-Coursegraph-Plan: 1` (development), a "Query plan" panel
shows the plan of the last operation run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from coursegraph.settings import Settings
from router.graphiql_tabs import SEED_PASSWORD, WALKTHROUGH

ASSETS_DIR = Path(__file__).parent / "static" / "graphiql"
ASSETS_PATH = "/graphiql-assets"
# Relative URLs, so the page also works when the router sits under a path prefix.
_ASSETS_URL = ASSETS_PATH.lstrip("/")

# The fetcher adds `Authorization: Bearer <token>` unless the tab's headers set one, asks for
# @defer parts as multipart (GraphiQL reads them and merges each into the result), and
# keeps the accessToken of any sign-in answer (login, register, refreshToken) for this
# browser tab only (sessionStorage). With the plan panel it also asks for the query plan
# (unless the tab's headers say otherwise), hands it to the panel and, when it asked
# itself, keeps it out of the response pane.
_SCRIPT = """
    const options = %(options)s;
    const TOKEN = "coursegraph:accessToken";
    const PLAN_HEADER = "x-coursegraph-plan";
    const ACCEPT = "multipart/mixed;deferSpec=20220824, application/json";
    const h = React.createElement;
    // Subscriptions go over graphql-transport-ws (graphql-ws is in the bundle); the tab's
    // headers, the token included, become the `connection_init` payload.
    const ws = (location.protocol === "https:" ? "wss://" : "ws://") + location.host +
      location.pathname;
    const http = GraphiQL.createFetcher(options.subscriptions
      ? { url: window.location.pathname, subscriptionUrl: ws }
      : { url: window.location.pathname });
    let plan = { text: null };
    const planListeners = new Set();
    function subscribePlan(listener) {
      planListeners.add(listener);
      return () => planListeners.delete(listener);
    }
    function takePlan(result, asked) {
      const extensions = result && result.extensions;
      const text = extensions && extensions.queryPlanText;
      if (typeof text === "string" || asked) {
        plan = { text: typeof text === "string" ? text : null };
        planListeners.forEach((listener) => listener());
      }
      if (asked && extensions) {
        delete extensions.queryPlan;
        delete extensions.queryPlanText;
        if (!Object.keys(extensions).length) delete result.extensions;
      }
    }
    function PlanPanel() {
      const current = React.useSyncExternalStore(subscribePlan, () => plan);
      return h("div", { className: "coursegraph-plan" },
        h("div", { className: "graphiql-doc-explorer-title" }, "Query plan"),
        current.text
          ? h("pre", null, current.text)
          : h("p", null, "Run an operation: the fetches the router sends to each subgraph, " +
              "and in which order, show here."));
    }
    function PlanIcon() {
      return h("svg", { viewBox: "0 0 24 24", fill: "none", stroke: "currentColor",
          strokeWidth: 1.5, width: "1em", height: "1em" },
        h("path", { d: "M4 5h6M4 12h6M4 19h6M14 5h6M14 12h6M14 19h6M10 5l4 7M10 12l4 7" }));
    }
    function rememberToken(result) {
      const data = result && result.data;
      for (const value of Object.values(data || {})) {
        if (value && typeof value.accessToken === "string") {
          sessionStorage.setItem(TOKEN, value.accessToken);
        }
      }
    }
    function hasHeader(headers, name) {
      return Object.keys(headers).some((key) => key.toLowerCase() === name);
    }
    function seen(result, asked) {
      if (options.rememberToken) rememberToken(result);
      if (options.planPanel) takePlan(result, asked);
    }
    async function fetcher(params, opts) {
      const headers = { ...((opts && opts.headers) || {}) };
      const token = options.rememberToken && sessionStorage.getItem(TOKEN);
      if (token && !hasHeader(headers, "authorization")) {
        headers.Authorization = "Bearer " + token;
      }
      // GraphiQL's own schema fetch is not the user's operation: its plan is not shown.
      const asked = options.planPanel && params.operationName !== "IntrospectionQuery" &&
        !hasHeader(headers, PLAN_HEADER);
      if (asked) headers[PLAN_HEADER] = "1";
      // GraphiQL's multipart fetcher asks for `multipart/mixed` alone; the router (like
      // Apollo Router) streams @defer parts only to clients naming the defer spec.
      if (!hasHeader(headers, "accept")) headers.accept = ACCEPT;
      const result = await http(params, { ...opts, headers });
      if (!result) return result;
      // GraphiQL's fetcher answers an async iterable when it reads multipart responses.
      if (Symbol.asyncIterator in result) return watch(result, asked);
      seen(result, asked);
      return result;
    }
    async function* watch(results, asked) {
      for await (const result of results) {
        // Each read brings one part or several (@defer: an array); only the first part
        // answers for the plan.
        for (const part of Array.isArray(result) ? result : [result]) {
          seen(part, asked);
          asked = false;
        }
        yield result;
      }
    }
    const props = { fetcher, defaultEditorToolsVisibility: true };
    if (options.planPanel) {
      props.plugins = [{ title: "Query plan", icon: PlanIcon, content: PlanPanel }];
    }
    if (options.tabs.length) {
      props.defaultTabs = options.tabs;
      // GraphiQL 3 opens the first default tab without its variables; on a first visit
      // (no saved tabs) hand them over as the initial variables.
      if (!localStorage.getItem("graphiql:tabState")) props.variables = options.tabs[0].variables;
    }
    ReactDOM.createRoot(document.getElementById("graphiql")).render(
      React.createElement(GraphiQL, props)
    );
"""


def walkthrough_tabs(settings: Settings) -> list[dict[str, Any]]:
    """GraphiQL's `defaultTabs`, with the demo password filled in."""
    password = settings.seed_password.get_secret_value()
    tabs: list[dict[str, Any]] = []
    for query, variables in WALKTHROUGH:
        filled = {k: password if v == SEED_PASSWORD else v for k, v in variables.items()}
        tabs.append({"query": query, "variables": json.dumps(filled, indent=2)})
    return tabs


def graphiql_html(
    settings: Settings, *, plan_panel: bool = False, subscriptions: bool = True
) -> str:
    """The page; `plan_panel` where the router answers `X-Coursegraph-Plan: 1`,
    `subscriptions` where it serves them over WebSocket."""
    development = not settings.is_production
    options = {
        "tabs": walkthrough_tabs(settings) if development else [],
        "rememberToken": development,
        "planPanel": plan_panel,
        "subscriptions": subscriptions,
    }
    # JSON inside <script>: "<" escaped so no string in it can close the element.
    script = _SCRIPT % {"options": json.dumps(options).replace("<", "\\u003c")}
    return f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Coursegraph GraphiQL</title>
  <style>
    body {{ margin: 0; height: 100vh; }} #graphiql {{ height: 100vh; }}
    .coursegraph-plan pre {{ font-size: 12px; line-height: 1.4; overflow: auto; margin: 0; }}
  </style>
  <link rel="stylesheet" href="{_ASSETS_URL}/graphiql.min.css">
  <script src="{_ASSETS_URL}/react.production.min.js"></script>
  <script src="{_ASSETS_URL}/react-dom.production.min.js"></script>
  <script src="{_ASSETS_URL}/graphiql.min.js"></script>
</head>
<body>
  <div id="graphiql">Loading GraphiQL…</div>
  <script>{script}</script>
</body>
</html>
"""
