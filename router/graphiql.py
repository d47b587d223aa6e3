"""The GraphiQL page served to browsers on GET /graphql.

Its scripts and styles are served by the router (`/graphiql-assets/…`), not a CDN, so the
explorer also works on hosts without internet access. Outside production it opens with
the walkthrough's tabs (graphiql_tabs.py) and remembers the access token a sign-in
returns, so the next tabs run as that user; in production it is the plain explorer.
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

# The fetcher adds `Authorization: Bearer <token>` unless the tab's headers set one, and
# keeps the accessToken of any sign-in answer (login, register, refreshToken) for this
# browser tab only (sessionStorage).
_SCRIPT = """
    const options = %(options)s;
    const TOKEN = "coursegraph:accessToken";
    const http = GraphiQL.createFetcher({ url: window.location.pathname });
    function rememberToken(result) {
      const data = result && result.data;
      for (const value of Object.values(data || {})) {
        if (value && typeof value.accessToken === "string") {
          sessionStorage.setItem(TOKEN, value.accessToken);
        }
      }
    }
    async function fetcher(params, opts) {
      const headers = { ...((opts && opts.headers) || {}) };
      const token = options.rememberToken && sessionStorage.getItem(TOKEN);
      if (token && !Object.keys(headers).some((h) => h.toLowerCase() === "authorization")) {
        headers.Authorization = "Bearer " + token;
      }
      const result = await http(params, { ...opts, headers });
      if (!options.rememberToken || !result) return result;
      // GraphiQL's fetcher answers an async iterable when it reads multipart responses.
      if (Symbol.asyncIterator in result) return watch(result);
      rememberToken(result);
      return result;
    }
    async function* watch(results) {
      for await (const result of results) {
        rememberToken(result);
        yield result;
      }
    }
    const props = { fetcher, defaultEditorToolsVisibility: true };
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


def graphiql_html(settings: Settings) -> str:
    development = not settings.is_production
    options = {
        "tabs": walkthrough_tabs(settings) if development else [],
        "rememberToken": development,
    }
    # JSON inside <script>: "<" escaped so no string in it can close the element.
    script = _SCRIPT % {"options": json.dumps(options).replace("<", "\\u003c")}
    return f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Coursegraph GraphiQL</title>
  <style>body {{ margin: 0; height: 100vh; }} #graphiql {{ height: 100vh; }}</style>
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
