"""The GraphiQL page served to browsers on GET /graphql.

Its scripts and styles are served by the router (`/graphiql-assets/…`), not a CDN, so the
explorer also works on hosts without internet access.
"""

from __future__ import annotations

from pathlib import Path

ASSETS_DIR = Path(__file__).parent / "static" / "graphiql"
ASSETS_PATH = "/graphiql-assets"
# Relative URLs, so the page also works when the router sits under a path prefix.
_ASSETS_URL = ASSETS_PATH.lstrip("/")

GRAPHIQL_HTML = f"""<!doctype html>
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
  <script>
    const fetcher = GraphiQL.createFetcher({{ url: window.location.pathname }});
    ReactDOM.createRoot(document.getElementById("graphiql")).render(
      React.createElement(GraphiQL, {{ fetcher, defaultEditorToolsVisibility: true }})
    );
  </script>
</body>
</html>
"""
