// Where the console finds the API. Locally the gateway serves the console and the API on one
// origin: apiBase "" (same origin) and liveUrl null (ws://<this host>/live). `make deploy`
// uploads its own config.js with the stack's LiveUrl (the HTTP API is under /api on the
// same CloudFront distribution).
export default {
  apiBase: "",
  liveUrl: null,
  traderScope: "orders/trade",
  operatorScope: "orders/operate",
};
