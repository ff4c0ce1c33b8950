// Starts GraphiQL on the page served at the GraphQL endpoint. A file, not an
// inline script, so that the page's CSP can allow scripts from 'self' only.
// Its tabs are the main operations (tabs.json beside this file), in the order
// a newcomer tries them; tests/test_graphiql_tabs.py runs them on the demo data.
(function () {
  "use strict";
  var root = document.getElementById("graphiql");
  var endpoint = root.getAttribute("data-endpoint") || window.location.pathname;
  var here = document.currentScript.src.replace(/[^/]*$/, "");
  // Subscriptions go over graphql-transport-ws on the same path; the Headers
  // tab ({"Authorization": "Bearer <token>"}) is the connection_init payload.
  var wsScheme = window.location.protocol === "https:" ? "wss://" : "ws://";
  var fetcher = GraphiQL.createFetcher({
    url: endpoint,
    subscriptionUrl: wsScheme + window.location.host + endpoint,
  });

  function render(tabs) {
    ReactDOM.createRoot(root).render(
      React.createElement(GraphiQL, {
        fetcher: fetcher,
        defaultTabs: tabs.map(function (tab) {
          return { query: tab.query, variables: tab.variables, headers: tab.headers };
        }),
        defaultEditorToolsVisibility: true,
        isHeadersEditorEnabled: true,
        shouldPersistHeaders: false,
      })
    );
  }

  fetch(here + "tabs.json")
    .then(function (response) {
      return response.ok ? response.json() : [];
    })
    .catch(function () {
      return [];
    })
    .then(render);
})();
