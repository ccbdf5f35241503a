// A unit's scorecard: the three layers side by side, each criterion's history, the
// criteria to re-score, and the unit's explanations of findings with their outcome.
import { gql } from "../gql.js";
import { claims } from "../auth.js";
import { h, show, refusal, points, when, LAYERS, LAYER_ORDER, WHO_SCORES, OUTCOMES,
  workbookLinks } from "../ui.js";

const QUERY = `query Scorecard($year: Int!, $unit: String!) { cluster { name year(year: $year) {
  members { unit name }
  criteriaVersions { version criteria { code title part maxPoints kind } }
  standings { layer unit total flagged }
  scorecard(unit: $unit) { submittedAt
    entries { layer criterion points explanation evidence criteriaVersion scoredAt position }
    findings { criterion points explanation scoredAt
      answer { text finding findingPoints outcome reason points decidedAt } } } } } }`;

// Who wrote each score, for those who read the audit trail (the city board, auditors):
// asking without the right would only add a refusal to the cluster's log.
const ACTORS = `query Actors($unit: String!, $after: String) { cluster {
  auditTrail(filter: { unit: $unit, subject: "score" }, first: 100, after: $after) {
    edges { node { position actor role } } pageInfo { hasNextPage endCursor } } } }`;

async function actors(code, unit) {
  const roles = (claims() || {}).roles || [];
  if (!roles.includes("auditor") && !roles.includes("city_board")) return {};
  const found = {};
  let after = null;
  for (let page = 0; page < 20; page++) {
    const trail = (await gql(code, ACTORS, { unit, after })).cluster.auditTrail;
    for (const { node } of trail.edges) found[node.position] = node.actor;
    if (!trail.pageInfo.hasNextPage) break;
    after = trail.pageInfo.endCursor;
  }
  return found;
}

function history(entries, who) {
  const last = {};
  const lines = entries.map((e) => {
    const before = last[e.layer];
    last[e.layer] = e.points;
    return h("li",
      h("span.when", when(e.scoredAt)), " · ", h("strong", LAYERS[e.layer]), " · ",
      who[e.position] || WHO_SCORES[e.layer], ": ",
      before === undefined ? `chấm ${points(e.points)}` :
        `từ ${points(before)} thành ${points(e.points)}`,
      e.explanation ? [" — ", h("em", e.explanation)] : null,
      e.evidence.length ? h("span.muted", ` (minh chứng: ${e.evidence.join("; ")})`) : null);
  });
  return h("ol.history", lines);
}

function findings(list) {
  if (!list.length) return h("p.muted", "Chưa có kết quả kiểm tra nào.");
  return h("ul.findings", list.map((f) => h("li",
    h("strong", `${f.criterion}: thẩm định ${points(f.points)}`), ` — ${f.explanation}`,
    f.answer
      ? h("div.answer",
          h("p", "Giải trình của đơn vị: ", h("em", f.answer.text)),
          h(`p.outcome.${f.answer.outcome.toLowerCase()}`, OUTCOMES[f.answer.outcome],
            f.answer.points ? ` (điểm thẩm định ${points(f.answer.points)})` : "",
            f.answer.reason ? ` — ${f.answer.reason}` : ""))
      : h("p.muted", "Đơn vị chưa giải trình."))));
}

export async function scorecard(code, year, unit) {
  let data, who;
  try {
    [data, who] = await Promise.all([gql(code, QUERY, { year, unit }), actors(code, unit)]);
  } catch (error) {
    return show(refusal(error));
  }
  const y = data.cluster.year;
  if (!y) return show(h("p", `Cụm chưa có năm thi đua ${year}.`));
  const name = (y.members.find((m) => m.unit === unit) || {}).name || unit;
  const version = y.criteriaVersions[y.criteriaVersions.length - 1];
  const card = y.scorecard;
  const flagged = new Set(y.standings.filter((s) => s.unit === unit).flatMap((s) => s.flagged));
  const totals = Object.fromEntries(
    y.standings.filter((s) => s.unit === unit).map((s) => [s.layer, s.total]));
  const byCriterion = {};
  for (const e of [...card.entries].sort((a, b) => a.position - b.position)) {
    (byCriterion[e.criterion] ||= []).push(e);
  }
  const latest = (code, layer) => {
    const list = (byCriterion[code] || []).filter((e) => e.layer === layer);
    return list.length ? list[list.length - 1].points : null;
  };
  const rows = (version ? version.criteria : []).map((c) =>
    h(`tr${flagged.has(c.code) ? ".flagged" : ""}`, { "data-criterion": c.code },
      h("td", h("strong", c.code)),
      h("td", c.title, flagged.has(c.code) ? h("span.badge.warn", "Phải chấm lại") : null,
        (byCriterion[c.code] || []).length
          ? h("details", h("summary", "Lịch sử"), history(byCriterion[c.code], who)) : null),
      h("td.num", c.maxPoints ? points(c.maxPoints) : "–"),
      LAYER_ORDER.map((l) => h("td.num", points(latest(c.code, l))))));
  show(
    h("section.head",
      h("h1", `Phiếu chấm: ${name}`),
      h("p.sub", `${data.cluster.name} · năm ${year}`,
        version ? ` · bộ tiêu chí ${version.version}` : "",
        card.submittedAt ? ` · đã nộp lúc ${when(card.submittedAt)}` : " · chưa nộp bản tự chấm"),
      h("p", h("a", { href: `/clusters/${code}/years/${year}/units/${unit}/work` },
        "Chấm điểm / thẩm định đơn vị này"))),
    h("div.scroll", h("table.scorecard",
      h("thead", h("tr", h("th", "Mã"), h("th", "Tiêu chí"), h("th.num", "Tối đa"),
        LAYER_ORDER.map((l) => h("th.num", LAYERS[l])))),
      h("tbody", rows),
      h("tfoot", h("tr", h("th", { colSpan: 3 }, "Tổng điểm"),
        LAYER_ORDER.map((l) => h("th.num", points(totals[l]))))))),
    h("h2.section", "Kết quả kiểm tra và giải trình"),
    findings(card.findings),
    h("details.files", h("summary", "Tải bảng tính"), workbookLinks(code, year, unit)),
  );
}
