// The unit's everyday work: its officer's self-assessment (points, explanation, evidence,
// submit), or the inspector's or secretariat's verification of a unit assigned to them.
// Each criterion is saved on its own, so a refusal is shown beside the field it concerns.
import { gql } from "../gql.js";
import { claims } from "../auth.js";
import { h, show, refusal, points, when } from "../ui.js";

const QUERY = `query Work($year: Int!, $unit: String!) { cluster { name year(year: $year) {
  status members { unit name }
  criteriaVersions { version criteria { code title part maxPoints kind } }
  scorecard(unit: $unit) { submittedAt entries { layer criterion points explanation evidence
    position } } } } }`;

const SELF_SCORE = `mutation Self($input: SelfScoreInput!) { selfScore(input: $input) { version } }`;
const VERIFY = `mutation Verify($input: VerifyScoreInput!) { verifyScore(input: $input) { version } }`;
const SUBMIT = `mutation Submit($year: Int!, $unit: String!) {
  submitSelfAssessment(input: { year: $year, unit: $unit }) { version } }`;

const UNIT_ROLES = ["member_officer", "member_head"];

function modeFor(unit) {
  const c = claims() || {};
  const own = c.unit === unit && (c.roles || []).some((r) => UNIT_ROLES.includes(r));
  return own ? "SELF" : "VERIFIED";
}

function latest(entries, layer, criterion) {
  const found = entries.filter((e) => e.layer === layer && e.criterion === criterion);
  return found.sort((a, b) => a.position - b.position).pop();
}

function criterionForm(code, year, unit, criterion, current, mode) {
  const said = h("p.field-refusal", { role: "alert", "aria-live": "polite" });
  const done = h("span.saved", { role: "status" });
  const pointsField = h("input", { name: "points", inputMode: "decimal", autocomplete: "off",
    value: current ? current.points : "", "aria-label": `Điểm ${criterion.code}` });
  const explanation = h("textarea", { name: "explanation", rows: 2,
    "aria-label": `Giải thích ${criterion.code}` }, current ? current.explanation : "");
  const evidence = h("input", { name: "evidence",
    value: current ? current.evidence.join("; ") : "",
    "aria-label": `Minh chứng ${criterion.code}`, placeholder: "Số văn bản; cách nhau bởi ;" });
  const form = h("form.criterion", { "data-criterion": criterion.code },
    h("div.title", h("strong", criterion.code), " ", criterion.title,
      h("span.muted", criterion.maxPoints ? ` (tối đa ${points(criterion.maxPoints)})`
        : criterion.kind === "deduction" ? " (điểm trừ)" : "")),
    h("label", "Điểm", pointsField),
    h("label.wide", mode === "SELF" ? "Giải thích" : "Nhận xét thẩm định", explanation),
    h("label.wide", "Minh chứng", evidence),
    h("div.actions", h("button.primary", { type: "submit" }, "Lưu"), done),
    said);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    said.textContent = "";
    done.textContent = "";
    pointsField.removeAttribute("aria-invalid");
    const input = {
      year, unit, criterion: criterion.code,
      points: pointsField.value.trim().replace(",", "."),
      explanation: explanation.value.trim(),
      evidence: evidence.value.split(";").map((s) => s.trim()).filter(Boolean),
    };
    try {
      await gql(code, mode === "SELF" ? SELF_SCORE : VERIFY, { input });
      done.textContent = `Đã lưu ${points(input.points)} điểm lúc ${when(new Date().toISOString())}`;
    } catch (error) {
      said.textContent = error.message;
      pointsField.setAttribute("aria-invalid", "true");
    }
  });
  return form;
}

export async function work(code, year, unit) {
  let data;
  try {
    data = await gql(code, QUERY, { year, unit });
  } catch (error) {
    return show(refusal(error));
  }
  const y = data.cluster.year;
  if (!y) return show(h("p", `Cụm chưa có năm thi đua ${year}.`));
  const mode = modeFor(unit);
  const name = (y.members.find((m) => m.unit === unit) || {}).name || unit;
  const version = y.criteriaVersions[y.criteriaVersions.length - 1];
  const entries = y.scorecard.entries;
  const forms = (version ? version.criteria : []).map((c) =>
    criterionForm(code, year, unit, c, latest(entries, mode, c.code), mode));
  const submitted = h("p.field-refusal", { role: "alert" });
  const submit = mode === "SELF"
    ? h("section.card",
        h("p", y.scorecard.submittedAt ? `Đã nộp lúc ${when(y.scorecard.submittedAt)}.`
          : "Chưa nộp bản tự chấm."),
        h("button.primary", { type: "button", id: "submit", onclick: async () => {
          submitted.textContent = "";
          try {
            await gql(code, SUBMIT, { year, unit });
            submitted.textContent = "Đã nộp bản tự chấm.";
          } catch (error) {
            submitted.textContent = error.message;
          }
        } }, "Nộp bản tự chấm"), submitted)
    : null;
  show(
    h("section.head",
      h("h1", mode === "SELF" ? `Tự chấm điểm: ${name}` : `Thẩm định: ${name}`),
      h("p.sub", `${data.cluster.name} · năm ${year}`,
        version ? ` · bộ tiêu chí ${version.version}` : ""),
      h("p", h("a", { href: `/clusters/${code}/years/${year}/units/${unit}` },
        "Xem phiếu chấm"))),
    h("div.forms", forms),
    submit,
  );
}
