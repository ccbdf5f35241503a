import { download } from "./gql.js";

// Small helpers: elements, Vietnamese words for the API's codes, numbers with two decimals.

// h("p.note", {title: "x"}, "text", child...): an element; class after the dot(s).
export function h(tag, attrs, ...children) {
  const [name, ...classes] = tag.split(".");
  const el = document.createElement(name);
  if (classes.length) el.className = classes.join(" ");
  if (attrs && (typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key in el && key !== "list") el[key] = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export function show(...children) {
  const main = document.getElementById("main");
  main.replaceChildren(...children);
  return main;
}

// A refusal as the API worded it, in place of what could not be read.
export function refusal(error) {
  return h("div.refusal", { role: "alert" }, h("strong", "Không thể hiển thị: "), error.message);
}

// "27.5" -> "27,50"; points are exact decimals as strings, never floats.
export function points(value) {
  if (value === null || value === undefined || value === "") return "–";
  const text = String(value);
  const negative = text.startsWith("-");
  const [whole, fraction = ""] = text.replace(/^[-+]/, "").split(".");
  const cents = (fraction + "00").slice(0, 2);
  return (negative ? "−" : "") + whole.replace(/\B(?=(\d{3})+(?!\d))/g, ".") + "," + cents;
}

export function when(iso) {
  if (!iso) return "–";
  return new Date(iso).toLocaleString("vi-VN", { timeZone: "Asia/Ho_Chi_Minh" });
}

export function day(iso) {
  if (!iso) return "–";
  const [y, m, d] = iso.slice(0, 10).split("-");
  return `${d}/${m}/${y}`;
}

export const LAYERS = { CITY: "Thành phố", VERIFIED: "Thẩm định (cụm chấm)", SELF: "Tự chấm" };
export const LAYER_ORDER = ["SELF", "VERIFIED", "CITY"];

export const WHO_SCORES = {
  SELF: "Đơn vị tự chấm",
  VERIFIED: "Kiểm tra chéo / cơ quan thường trực",
  CITY: "Ban Thi đua - Khen thưởng thành phố",
};

export const DECIDED_BY = {
  total: "Tổng điểm",
  part_a: "Bằng tổng điểm: điểm phần A cao hơn",
  deductions: "Bằng tổng điểm: ít điểm trừ hơn",
  submission: "Bằng tổng điểm: nộp bản tự chấm đầy đủ sớm hơn",
  tied_vote_required: "Đồng hạng: cần bỏ phiếu",
  floor_rule: "Không đạt điều kiện tối thiểu để xếp thứ nhất",
  alone: "Không có đơn vị để so sánh",
};

export const ROLES = {
  member_officer: "Cán bộ thi đua của đơn vị",
  member_head: "Thủ trưởng đơn vị",
  cross_inspector: "Thành viên kiểm tra chéo",
  secretariat: "Cơ quan thường trực cụm",
  city_board: "Ban Thi đua - Khen thưởng thành phố",
  auditor: "Kiểm toán viên",
  dashboard: "Bảng theo dõi",
};

export const STATUS = {
  open: "Đang diễn ra",
  finalised: "Đã chốt kết quả",
  reopened: "Đã mở lại",
};

export const OUTCOMES = {
  PENDING: "Đang chờ quyết định",
  ACCEPTED: "Được chấp nhận",
  REJECTED: "Không được chấp nhận",
};

// A link to a file the API serves with the token: fetched with it, saved as a file; a
// refusal is shown beside the link.
export function fileLink(label, path, name) {
  const said = h("span.refusal-inline", { role: "alert" });
  const link = h("a", {
    href: path,
    onclick: async (event) => {
      event.preventDefault();
      said.textContent = "";
      try {
        await download(path, name);
      } catch (error) {
        said.textContent = error.message;
      }
    },
  }, label);
  return h("span.file", link, said);
}

// The workbooks of a cluster-year (their exports sit beside the pages).
export function workbookLinks(code, year, unit) {
  const base = `/clusters/${code}/years/${year}`;
  const pair = (label, path, query = "") => {
    const name = `${code}-${year}-${path.split("/").pop()}`;
    return h("li", label, ": ", fileLink("Excel", `${path}.xlsx${query}`, `${name}.xlsx`),
      " · ", fileLink("CSV", `${path}.csv${query}`, `${name}.csv`));
  };
  return h("ul.workbooks",
    ...LAYER_ORDER.map((l) =>
      pair(`Bảng xếp hạng (${LAYERS[l]})`, `${base}/standings`, `?layer=${l}`)),
    unit ? pair(`Phiếu chấm của ${unit}`, `${base}/units/${unit}/scorecard`) : null,
    pair("Phiếu chấm của mọi đơn vị", `${base}/scorecards`),
    pair("Các phiên bản kết quả", `${base}/results`));
}
