// `/`: who is signed in, and the clusters and years the token covers, with their pages.
import { gql } from "../gql.js";
import { token, startOidc } from "../auth.js";
import { h, show, refusal, ROLES, STATUS } from "../ui.js";

const YEARS_BACK = 3; // the years offered: this one and the two before

function signIn(config) {
  return h("section.card",
    h("h1", "Đăng nhập"),
    config.oidc
      ? h("p", h("button.primary", { type: "button", id: "oidc",
          onclick: () => startOidc(config.oidc) }, "Đăng nhập bằng tài khoản cơ quan"))
      : h("p", "Mở đường dẫn đăng nhập mà quản trị viên gửi cho bạn (lệnh ",
          h("code", "thidua token … --link"), ")."),
  );
}

const ME = "{ me { person name unit roles clusters } }";

function yearsQuery() {
  const now = new Date().getFullYear();
  const years = Array.from({ length: YEARS_BACK }, (_, i) => now - i);
  const fields = years.map((y) => `y${y}: year(year: ${y}) { year status }`).join(" ");
  return `{ clusters { code name ${fields} } }`;
}

// A token over every cluster (the city board, an auditor of the city) would list
// thousands: it names the cluster and year it wants instead.
function goTo() {
  const code = h("input", { name: "cluster", required: true, placeholder: "cum-xii",
    pattern: "[A-Za-z0-9._\\-]{1,64}" });
  const year = h("input", { name: "year", type: "number", required: true, min: 2000, max: 2100,
    value: new Date().getFullYear() });
  const form = h("form.filters", h("label", "Mã cụm", code), h("label", "Năm", year),
    h("button.primary", { type: "submit" }, "Xem bảng xếp hạng"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    location.assign(`/clusters/${encodeURIComponent(code.value.trim())}/years/${year.value}`);
  });
  return h("section.card", h("h2", "Mọi cụm thi đua"), form);
}

export async function home(config) {
  if (!token()) return show(signIn(config));
  let me, clusters;
  try {
    me = (await gql(null, ME)).me;
    clusters = me.clusters.includes("*") ? null : (await gql(null, yearsQuery())).clusters;
  } catch (error) {
    return show(refusal(error), signIn(config));
  }
  const unitPages = (code, year) =>
    me.unit
      ? [" · ", h("a", { href: `/clusters/${code}/years/${year}/units/${me.unit}` },
          "Phiếu chấm của đơn vị"),
        " · ", h("a", { href: `/clusters/${code}/years/${year}/units/${me.unit}/work` },
          "Chấm điểm")]
      : [];
  const rows = (clusters || []).map((cluster) => {
    const years = Object.entries(cluster)
      .filter(([key, value]) => key.startsWith("y") && value)
      .map(([, value]) => value);
    return h("li.cluster",
      h("h2", cluster.name, h("span.muted", ` (${cluster.code})`)),
      years.length
        ? h("ul", years.map((y) => {
            const base = `/clusters/${cluster.code}/years/${y.year}`;
            return h("li",
              h("strong", `Năm ${y.year}`), ` — ${STATUS[y.status] || y.status}: `,
              h("a", { href: base }, "Bảng xếp hạng"), ...unitPages(cluster.code, y.year),
              " · ", h("a", { href: `${base}/audit` }, "Kiểm toán"));
          }))
        : h("p.muted", "Chưa có năm thi đua nào gần đây."));
  });
  show(
    h("section.card",
      h("h1", "Xin chào, ", me.name || me.person),
      h("p", "Vai trò: ", me.roles.map((r) => ROLES[r] || r).join(", "),
        me.unit ? ` · Đơn vị: ${me.unit}` : "")),
    clusters === null ? goTo() : h("section",
      h("h2.section", "Các cụm thi đua của bạn"),
      clusters.length ? h("ul.clusters", rows) : h("p", "Token không có quyền với cụm nào.")),
  );
}
