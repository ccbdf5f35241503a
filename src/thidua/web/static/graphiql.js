// GraphiQL from the package's own copy, against the endpoint that served this page; the
// token the pages signed in with goes in the Authorization header.
(function () {
  const token = sessionStorage.getItem("thidua.token");
  const headers = token ? { Authorization: "Bearer " + token } : {};
  const fetcher = GraphiQL.createFetcher({ url: location.pathname, headers });
  const root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher,
      defaultEditorToolsVisibility: true,
      defaultQuery: "{\n  me { person name roles clusters }\n}\n",
      headers: JSON.stringify(headers, null, 2),
    }),
  );
})();
