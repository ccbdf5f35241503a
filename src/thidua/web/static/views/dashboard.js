// A cluster-year's standings per layer, live: the standingsChanged subscription replaces
// the table whenever the log moves, without a reload.
import { gql, subscribe } from "../gql.js";
import { h, show, refusal, points, day, when, LAYERS, DECIDED_BY, STATUS, workbookLinks }
  from "../ui.js";

const STANDING = `layer unit rank decidedBy first mayBeFirst floor base bonus deductions total
  parts complete submittedAt flagged onDay notes { kind text }`;

const QUERY = `query Dashboard($year: Int!) { cluster { code name year(year: $year) {
  year status leader members { unit name leftOn }
  criteriaVersions { criteria { part kind } }
  standings { ${STANDING} } } } }`;

const LIVE = `subscription Live($year: Int!) { standingsChanged(year: $year) {
  position standings { ${STANDING} } } }`;

function layerFrom() {
  const asked = new URLSearchParams(location.search).get("layer");
  return asked in LAYERS ? asked : "CITY";
}

function baseParts(year) {
  const versions = year.criteriaVersions;
  const criteria = versions.length ? versions[versions.length - 1].criteria : [];
  return [...new Set(criteria.filter((c) => c.kind === "base").map((c) => c.part))].sort();
}

function row(standing, names, parts, code, year) {
  const notes = [
    ...standing.notes.map((n) => h("li", n.text)),
    ...(standing.flagged.length
      ? [h("li", `Phải chấm lại: ${standing.flagged.join(", ")}`)] : []),
    ...(standing.complete ? [] : [h("li", "Chưa chấm đủ các tiêu chí")]),
  ];
  return h(`tr${standing.first ? ".first" : ""}`, { "data-unit": standing.unit },
    h("td.rank", standing.rank),
    h("td.unit",
      h("a", { href: `/clusters/${code}/years/${year}/units/${standing.unit}` },
        names[standing.unit] || standing.unit),
      standing.first ? h("span.badge", "Dẫn đầu") : null,
      notes.length ? h("ul.notes", notes) : null),
    h("td.num.total", points(standing.total)),
    parts.map((p) => h("td.num.part", points(standing.parts[p] ?? "0"))),
    h("td.num", points(standing.bonus)),
    h("td.num", points(standing.deductions)),
    h("td.rule", DECIDED_BY[standing.decidedBy] || standing.decidedBy),
  );
}

function table(rows, names, parts, code, year) {
  return h("div.scroll", h("table.standings",
    h("thead", h("tr",
      h("th", "Hạng"), h("th", "Đơn vị và ghi chú"), h("th.num", "Tổng điểm"),
      parts.map((p) => h("th.num", `Phần ${p}`)),
      h("th.num", "Điểm thưởng"), h("th.num", "Điểm trừ"),
      h("th", "Căn cứ xếp hạng"))),
    h("tbody", rows.map((s) => row(s, names, parts, code, year)))));
}

export async function dashboard(code, year) {
  let data;
  try {
    data = await gql(code, QUERY, { year });
  } catch (error) {
    return show(refusal(error));
  }
  const cluster = data.cluster;
  if (!cluster.year) return show(h("p", `Cụm chưa có năm thi đua ${year}.`));
  const names = Object.fromEntries(cluster.year.members.map((m) => [m.unit, m.name]));
  const parts = baseParts(cluster.year);
  let layer = layerFrom();
  let standings = cluster.year.standings;
  const board = h("div#board");
  const live = h("p.live", { role: "status" }, "Đang kết nối cập nhật trực tiếp…");
  const tabs = h("div.tabs", { role: "tablist" });

  function render() {
    const rows = standings.filter((s) => s.layer === layer).sort((a, b) => a.rank - b.rank);
    const onDay = rows.length ? day(rows[0].onDay) : "–";
    tabs.replaceChildren(...["CITY", "VERIFIED", "SELF"].map((l) =>
      h("button.tab", { type: "button", role: "tab", "aria-selected": String(l === layer),
        onclick: () => { layer = l; history.replaceState(null, "", `?layer=${l}`); render(); } },
        LAYERS[l])));
    board.replaceChildren(
      rows.length ? table(rows, names, parts, code, year)
        : h("p.muted", "Chưa có điểm nào ở lớp này."),
      h("p.muted", `Tính theo ngày ${onDay}.`));
  }
  render();
  show(
    h("section.head",
      h("h1", cluster.name),
      h("p.sub", `Năm thi đua ${year} · ${STATUS[cluster.year.status] || cluster.year.status}`,
        ` · Cụm trưởng: ${names[cluster.year.leader] || cluster.year.leader}`),
      live),
    tabs, board,
    h("details.files", h("summary", "Tải bảng tính"), workbookLinks(code, year)),
  );
  // A meeting-room screen runs all day: a dropped connection is opened again, waiting a
  // little longer each time; a refusal (the token, the cluster) is shown and left alone.
  let wait = 1000;
  const follow = () => subscribe(code, LIVE, { year },
    (next) => {
      wait = 1000;
      standings = next.standingsChanged.standings;
      live.textContent = `Cập nhật trực tiếp · ${when(new Date().toISOString())}` +
        ` · vị trí nhật ký ${next.standingsChanged.position}`;
      live.classList.remove("lost");
      render();
    },
    (error) => {
      live.textContent = error.message;
      live.classList.add("lost");
      if (error.code.startsWith("CLOSED_") && error.code !== "CLOSED_4403") {
        setTimeout(follow, wait);
        wait = Math.min(wait * 2, 30_000);
      }
    });
  follow();
}
