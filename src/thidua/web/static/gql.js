// GraphQL over fetch and over WebSocket (graphql-transport-ws), with the signed-in token.
import { token } from "./auth.js";

// A refusal as the API gives it: its Vietnamese message and stable code.
export class Refusal extends Error {
  constructor(message, code, field) {
    super(message);
    this.code = code;
    this.field = field;
  }
}

const NETWORK = "Không kết nối được máy chủ. Vui lòng thử lại.";

function endpoint(cluster) {
  return cluster ? `/clusters/${encodeURIComponent(cluster)}/graphql` : "/graphql";
}

function refusalOf(errors) {
  const first = errors[0] || {};
  const ext = first.extensions || {};
  return new Refusal(first.message || "Yêu cầu bị từ chối.", ext.code || "ERROR", ext.field);
}

// The data of a query or mutation; a refusal (any error) is thrown as a Refusal.
export async function gql(cluster, query, variables = {}) {
  const headers = {
    "content-type": "application/json",
    accept: "application/graphql-response+json",
  };
  const signed = token();
  if (signed) headers.authorization = "Bearer " + signed;
  let response;
  try {
    response = await fetch(endpoint(cluster), {
      method: "POST",
      headers,
      body: JSON.stringify({ query, variables }),
    });
  } catch {
    throw new Refusal(NETWORK, "NETWORK");
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new Refusal(`Máy chủ trả lời lỗi ${response.status}.`, "HTTP_" + response.status);
  }
  if (body.errors && body.errors.length) throw refusalOf(body.errors);
  return body.data;
}

// A subscription: onData(data) for each result, onRefusal(Refusal) when refused or closed.
// Returns a function that stops it.
export function subscribe(cluster, query, variables, onData, onRefusal) {
  const url = new URL(endpoint(cluster), location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(url, "graphql-transport-ws");
  let stopped = false;
  socket.onopen = () => {
    const signed = token();
    const payload = signed ? { authorization: "Bearer " + signed } : {};
    socket.send(JSON.stringify({ type: "connection_init", payload }));
  };
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "connection_ack") {
      socket.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query, variables } }));
    } else if (message.type === "ping") {
      socket.send(JSON.stringify({ type: "pong" }));
    } else if (message.type === "next") {
      const errors = message.payload.errors;
      if (errors && errors.length) onRefusal(refusalOf(errors));
      else onData(message.payload.data);
    } else if (message.type === "error") {
      onRefusal(refusalOf(message.payload));
    }
  };
  socket.onclose = (event) => {
    if (stopped) return;
    const why =
      event.code === 4403
        ? "Token của bạn không có quyền với cụm này."
        : event.code === 4401 || event.code === 4400
          ? "Cần đăng nhập lại để tiếp tục theo dõi."
          : "Mất kết nối cập nhật trực tiếp; đang thử kết nối lại…";
    onRefusal(new Refusal(why, "CLOSED_" + event.code));
  };
  return () => {
    stopped = true;
    socket.close();
  };
}

// A file the API serves with the token (evidence, workbooks), saved as the browser saves.
export async function download(path, name) {
  const signed = token();
  const response = await fetch(path, {
    headers: signed ? { authorization: "Bearer " + signed } : {},
  });
  if (!response.ok) {
    let message = `Không tải được tệp (lỗi ${response.status}).`;
    try {
      const body = await response.json();
      if (body.errors && body.errors.length) throw refusalOf(body.errors);
    } catch (error) {
      if (error instanceof Refusal) throw error;
    }
    throw new Refusal(message, "HTTP_" + response.status);
  }
  const blob = await response.blob();
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}
