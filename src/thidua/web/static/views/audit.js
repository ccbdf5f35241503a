// The auditor's view: the trail with filters, refused attempts, the standings as of a chosen
// position (a slider over the log) or day, and the evidence and trail downloads.
import { gql } from "../gql.js";
import { h, show, refusal, points, when, day, LAYERS, DECIDED_BY, ROLES, fileLink }
  from "../ui.js";

const HEAD = `query Head($year: Int!) { cluster { name position year(year: $year) {
  members { unit name } } } }`;

const TRAIL = `query Trail($filter: AuditFilterInput, $after: String) { cluster {
  auditTrail(filter: $filter, first: 50, after: $after) {
    edges { node { position subject item unit criteria before after actor role reason
      recordedAt occurredAt command } }
    pageInfo { hasNextPage endCursor } } } }`;

const PAST = `query Past($year: Int!, $layer: Layer!, $at: Int, $on: Date) { cluster {
  year(year: $year) { standings(layer: $layer, atPosition: $at, onDay: $on) {
    unit rank total decidedBy onDay } } } }`;

function value(v) {
  if (v === null || v === undefined) return "–";
  if (typeof v !== "object") return String(v);
  if ("points" in v) return `${points(v.points)}${v.explanation ? ` — ${v.explanation}` : ""}`;
  if ("message" in v) return h("span", h("strong", v.code || ""), " ", v.message);
  const text = JSON.stringify(v);
  if (text.length <= 80) return text;
  return h("details", h("summary", text.slice(0, 60) + "…"),
    h("pre", JSON.stringify(v, null, 1)));
}

function entry(node) {
  const refused = node.subject === "refusal";
  return h(`tr${refused ? ".refused" : ""}`, { "data-position": node.position },
    h("td.num", node.position),
    h("td", when(node.recordedAt),
      node.occurredAt && node.occurredAt.slice(0, 10) !== node.recordedAt.slice(0, 10)
        ? h("div.muted", `xảy ra ngày ${day(node.occurredAt)}`) : null),
    h("td", node.actor || "–", node.role ? h("div.muted", ROLES[node.role] || node.role) : null),
    h("td", refused ? h("span.badge.warn", "Bị từ chối") : null, " ", node.command || node.subject,
      node.unit ? h("div.muted", node.unit) : null),
    h("td", node.criteria.join(", ")),
    h("td", value(node.before)),
    h("td", value(node.after)),
    h("td", node.reason || ""));
}

function trailView(code, year, members) {
  const body = h("tbody");
  const said = h("div");
  const more = h("button", { type: "button", hidden: true }, "Xem thêm");
  const field = (name, label, attrs = {}) =>
    h("label", label, h("input", { name, ...attrs }));
  const unitSelect = h("select", { name: "unit" }, h("option", { value: "" }, "Mọi đơn vị"),
    members.map((m) => h("option", { value: m.unit }, m.name)));
  const form = h("form.filters",
    h("label", "Đơn vị", unitSelect),
    field("criterion", "Tiêu chí", { placeholder: "A1" }),
    field("actor", "Người thực hiện"),
    field("since", "Từ", { type: "datetime-local" }),
    field("until", "Đến", { type: "datetime-local" }),
    h("label.check", h("input", { name: "refused", type: "checkbox" }), "Chỉ các lần bị từ chối"),
    h("button.primary", { type: "submit" }, "Lọc"));
  let after = null;
  let filter = {};
  async function load(reset) {
    said.replaceChildren();
    if (reset) { body.replaceChildren(); after = null; }
    try {
      const trail = (await gql(code, TRAIL, { filter, after })).cluster.auditTrail;
      body.append(...trail.edges.map((e) => entry(e.node)));
      if (!body.children.length) said.append(h("p.muted", "Không có thay đổi nào khớp bộ lọc."));
      more.hidden = !trail.pageInfo.hasNextPage;
      after = trail.pageInfo.endCursor;
      return null;
    } catch (error) {
      said.append(refusal(error));
      more.hidden = true;
      return error;
    }
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const iso = (v) => (v ? new Date(v).toISOString() : null);
    filter = {
      unit: data.get("unit") || null,
      criterion: data.get("criterion").trim() || null,
      actor: data.get("actor").trim() || null,
      since: iso(data.get("since")),
      until: iso(data.get("until")),
      subject: data.get("refused") ? "refusal" : null,
    };
    load(true);
  });
  more.addEventListener("click", () => load(false));
  const table = h("div.scroll", h("table.trail", h("thead", h("tr",
    h("th.num", "Vị trí"), h("th", "Thời điểm ghi"), h("th", "Người thực hiện"),
    h("th", "Việc"), h("th", "Tiêu chí"), h("th", "Trước"), h("th", "Sau"), h("th", "Lý do"))),
    body));
  return { view: h("section", h("h2.section", "Nhật ký thay đổi"), form, said, table, more),
    load };
}

function pastView(code, year, head, names) {
  const out = h("div");
  const slider = h("input", { type: "range", min: 1, max: head, value: head, name: "position",
    "aria-label": "Vị trí trong nhật ký" });
  const label = h("output", `vị trí ${head}`);
  const dayField = h("input", { type: "date", name: "day", "aria-label": "Ngày" });
  const layer = h("select", { name: "layer" },
    ["CITY", "VERIFIED", "SELF"].map((l) => h("option", { value: l }, LAYERS[l])));
  async function load(at, on) {
    label.textContent = on ? `ngày ${day(on)}` : `vị trí ${at}`;
    try {
      const rows = (await gql(code, PAST, { year, layer: layer.value, at, on }))
        .cluster.year.standings;
      out.replaceChildren(rows.length ? h("table.standings.compact",
        h("thead", h("tr", h("th", "Hạng"), h("th", "Đơn vị"), h("th.num", "Tổng điểm"),
          h("th", "Căn cứ xếp hạng"))),
        h("tbody", rows.map((s) => h("tr", { "data-unit": s.unit }, h("td.rank", s.rank),
          h("td", names[s.unit] || s.unit), h("td.num", points(s.total)),
          h("td", DECIDED_BY[s.decidedBy] || s.decidedBy)))))
        : h("p.muted", "Chưa có điểm nào tại thời điểm này."));
    } catch (error) {
      out.replaceChildren(refusal(error));
    }
  }
  slider.addEventListener("change", () => { dayField.value = ""; load(+slider.value, null); });
  slider.addEventListener("input", () => { label.textContent = `vị trí ${slider.value}`; });
  dayField.addEventListener("change", () => dayField.value && load(null, dayField.value));
  layer.addEventListener("change", () =>
    dayField.value ? load(null, dayField.value) : load(+slider.value, null));
  load(head, null);
  return h("section", h("h2.section", "Bảng xếp hạng tại một thời điểm"),
    h("div.filters", h("label.wide", "Vị trí trong nhật ký ", label, slider),
      h("label", "Hoặc ngày", dayField), h("label", "Lớp điểm", layer)), out);
}

export async function audit(code, year) {
  let head;
  try {
    head = await gql(code, HEAD, { year });
  } catch (error) {
    return show(refusal(error));
  }
  const cluster = head.cluster;
  if (!cluster.year) return show(h("p", `Cụm chưa có năm thi đua ${year}.`));
  const members = cluster.year.members;
  const names = Object.fromEntries(members.map((m) => [m.unit, m.name]));
  const trail = trailView(code, year, members);
  // Whoever may not read the trail sees the refusal, not an auditor's page without it.
  const refused = await trail.load(true);
  if (refused) return show(refusal(refused));
  show(
    h("section.head", h("h1", `Kiểm toán: ${cluster.name}`),
      h("p.sub", `Năm ${year} · nhật ký đến vị trí ${cluster.position}`),
      h("p.downloads",
        fileLink("Tải bằng chứng (kiểm tra bằng thidua-verify)",
          `/clusters/${code}/evidence?year=${year}`, `bang-chung-${code}-${year}.jsonl`),
        " · ",
        fileLink("Tải nhật ký (Excel)", `/clusters/${code}/audit.xlsx?year=${year}`,
          `nhat-ky-${code}-${year}.xlsx`))),
    trail.view,
    pastView(code, year, cluster.position, names),
  );
}
