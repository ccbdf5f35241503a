// Sign-in. A development link carries the token in the URL's fragment (#token=...), which
// browsers never send to the server, so no server log holds it; the page moves it to
// sessionStorage (this tab only, gone when it closes) and strips it from the address bar.
// With an OIDC provider: the authorization code flow with PKCE, as a public client.

const KEY = "thidua.token";
const PKCE = "thidua.pkce";

export function token() {
  return sessionStorage.getItem(KEY);
}

export function signOut() {
  sessionStorage.removeItem(KEY);
}

// The token's claims, for display only (the server verifies it).
export function claims() {
  const signed = token();
  if (!signed) return null;
  try {
    const part = signed.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(part), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
}

function strip() {
  history.replaceState(null, "", location.pathname + location.search);
}

// Takes a token from the fragment, or finishes an OIDC sign-in; call once per page load.
export async function takeSignIn(config) {
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.has("token")) {
    sessionStorage.setItem(KEY, fragment.get("token"));
    strip();
    return;
  }
  const answer = fragment.has("code") ? fragment : new URLSearchParams(location.search);
  if (config.oidc && answer.has("code") && answer.has("state")) {
    await finishOidc(config.oidc, answer);
    history.replaceState(null, "", location.pathname);
  }
}

function base64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

function random() {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

function redirectUri() {
  return location.origin + "/";
}

export async function startOidc(oidc) {
  const verifier = random();
  const state = random();
  const challenge = base64url(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)),
  );
  sessionStorage.setItem(PKCE, JSON.stringify({ verifier, state, back: location.pathname }));
  const url = new URL(oidc.authorizeUrl);
  url.search = new URLSearchParams({
    response_type: "code",
    response_mode: "fragment", // the code stays out of the server's access log too
    client_id: oidc.clientId,
    redirect_uri: redirectUri(),
    scope: oidc.scope,
    state,
    code_challenge: challenge,
    code_challenge_method: "S256",
  });
  location.assign(url);
}

async function finishOidc(oidc, answer) {
  const kept = JSON.parse(sessionStorage.getItem(PKCE) || "null");
  sessionStorage.removeItem(PKCE);
  if (!kept || kept.state !== answer.get("state")) {
    throw new Error("Phiên đăng nhập không khớp; vui lòng đăng nhập lại.");
  }
  const response = await fetch(oidc.tokenUrl, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code: answer.get("code"),
      redirect_uri: redirectUri(),
      client_id: oidc.clientId,
      code_verifier: kept.verifier,
    }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok || !body.access_token) {
    throw new Error("Nhà cung cấp đăng nhập không cấp token; vui lòng thử lại.");
  }
  sessionStorage.setItem(KEY, body.access_token);
}
