// Starts GraphiQL on the page served at the GraphQL endpoint. A file, not an
// inline script, so that the page's CSP can allow scripts from 'self' only.
(function () {
  "use strict";
  var root = document.getElementById("graphiql");
  var endpoint = root.getAttribute("data-endpoint") || window.location.pathname;
  // Subscriptions go over graphql-transport-ws on the same path; the Headers
  // tab ({"Authorization": "Bearer <token>"}) is the connection_init payload.
  var wsScheme = window.location.protocol === "https:" ? "wss://" : "ws://";
  var fetcher = GraphiQL.createFetcher({
    url: endpoint,
    subscriptionUrl: wsScheme + window.location.host + endpoint,
  });
  var defaultQuery =
    "# Service360 GraphQL API. Sign in with the signIn mutation, then put\n" +
    '# {"Authorization": "Bearer <token>"} in the Headers tab below.\n' +
    "{\n  productFamilies {\n    name\n  }\n}\n";
  ReactDOM.createRoot(root).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: defaultQuery,
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
    })
  );
})();
