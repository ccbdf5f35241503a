// The pages: the path picks the view; every view reads the product's GraphQL API.
import { claims, takeSignIn, signOut } from "./auth.js";
import { h, show, ROLES } from "./ui.js";
import { home } from "./views/home.js";
import { dashboard } from "./views/dashboard.js";
import { scorecard } from "./views/scorecard.js";
import { work } from "./views/work.js";
import { audit } from "./views/audit.js";

const config = JSON.parse(document.getElementById("config").textContent);

const ROUTES = [
  [/^\/$/, () => home(config)],
  [/^\/clusters\/([^/]+)\/years\/(\d+)$/, (c, y) => dashboard(c, +y)],
  [/^\/clusters\/([^/]+)\/years\/(\d+)\/units\/([^/]+)$/, (c, y, u) => scorecard(c, +y, u)],
  [/^\/clusters\/([^/]+)\/years\/(\d+)\/units\/([^/]+)\/work$/, (c, y, u) => work(c, +y, u)],
  [/^\/clusters\/([^/]+)\/years\/(\d+)\/audit$/, (c, y) => audit(c, +y)],
];

function navigation(cluster, year) {
  const nav = document.getElementById("nav");
  if (!cluster) return nav.replaceChildren();
  const base = `/clusters/${cluster}/years/${year}`;
  nav.replaceChildren(
    h("a", { href: base }, "Bảng xếp hạng"),
    h("a", { href: `${base}/audit` }, "Kiểm toán"),
    h("a", { href: `/clusters/${cluster}/graphql` }, "GraphiQL"),
  );
}

function signedInAs() {
  const who = document.getElementById("who");
  const c = claims();
  if (!c) return who.replaceChildren(h("a", { href: "/" }, "Đăng nhập"));
  const roles = (c.roles || []).map((r) => ROLES[r] || r).join(", ");
  who.replaceChildren(
    h("span.person", c.name || c.sub, c.unit ? ` · ${c.unit}` : "", roles ? ` · ${roles}` : ""),
    h("button.link", { type: "button", onclick: () => { signOut(); location.assign("/"); } },
      "Đăng xuất"),
  );
}

async function main() {
  try {
    await takeSignIn(config);
  } catch (error) {
    show(h("div.refusal", { role: "alert" }, error.message));
    return;
  }
  signedInAs();
  const path = decodeURI(location.pathname).replace(/\/+$/, "") || "/";
  for (const [pattern, view] of ROUTES) {
    const found = path.match(pattern);
    if (found) {
      const [, cluster, year] = found;
      navigation(cluster, year);
      await view(...found.slice(1));
      return;
    }
  }
  show(h("p", "Không có trang này."));
}

main();
