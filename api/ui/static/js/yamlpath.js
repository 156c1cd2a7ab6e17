// Maps an API error's field path (`spec.stages[1].resources.memory`) to the line of a block-style
// YAML text where it is, or where its nearest ancestor is when the field itself is missing.

export function tokens(path) {
  const out = [];
  for (const part of String(path || "").split(".")) {
    const m = part.match(/^([^[\]]*)((?:\[\d+\])*)$/);
    if (!m) {
      out.push(part);
      continue;
    }
    if (m[1]) out.push(m[1]);
    for (const index of m[2].matchAll(/\[(\d+)\]/g)) out.push(Number(index[1]));
  }
  return out;
}

function scan(text) {
  return text.split("\n").map((raw) => {
    if (/^\s*(#.*)?$/.test(raw) || /^(---|\.\.\.)\s*$/.test(raw)) return null;
    const m = raw.match(/^(\s*)(-(?:\s+|$))?(.*)$/);
    const indent = m[1].length;
    const dash = Boolean(m[2]);
    const keyIndent = indent + (m[2] ? m[2].length : 0);
    const k = m[3].match(/^(?:"([^"]*)"|'([^']*)'|([^\s:#'"][^:#]*?))\s*:(?:\s|$)/);
    return { indent, dash, keyIndent, key: k ? (k[1] ?? k[2] ?? k[3]) : null };
  });
}

// 1-based line number.
export function lineOf(text, path) {
  const lines = scan(text);
  let lo = 0;
  let hi = lines.length;
  let best = Math.max(0, lines.findIndex(Boolean));
  let item = -1; // the dash line that opens the current range, if it is a sequence item
  const effective = (i) => (i === item ? lines[i].keyIndent : lines[i].indent);
  for (const token of tokens(path)) {
    if (typeof token === "number") {
      const dashes = [];
      for (let i = lo; i < hi; i++) if (lines[i] && lines[i].dash && i !== item) dashes.push(i);
      if (!dashes.length) break;
      const level = Math.min(...dashes.map((i) => lines[i].indent));
      const items = dashes.filter((i) => lines[i].indent === level);
      if (token >= items.length) break;
      lo = items[token];
      hi = token + 1 < items.length ? items[token + 1] : hi;
      best = lo;
      item = lo;
      continue;
    }
    let level = Infinity;
    for (let i = lo; i < hi; i++) if (lines[i]) level = Math.min(level, effective(i));
    let found = -1;
    for (let i = lo; i < hi; i++) {
      const line = lines[i];
      if (!line || effective(i) !== level || (line.dash && i !== item)) continue;
      if (line.key === token) {
        found = i;
        break;
      }
    }
    if (found < 0) break;
    const at = effective(found);
    let end = found + 1;
    while (end < hi && (!lines[end] || lines[end].indent > at || (lines[end].indent === at && lines[end].dash))) end++;
    best = found;
    lo = found + 1;
    hi = end;
    item = -1;
  }
  return best + 1;
}
