// A reason from the server, shown without the command-line instructions it carries for winsctl
// users: in the UI the buttons beside it do the action. Pure; the patterns it strips, in order:
//   "; resume with `winsctl resume NAME` (reruns it) or `--from STAGE`"   (a stopped project)
//   ": winsctl confirm NAME"                                               (a gate waits)
//   "; a user resumes with `winsctl resume NAME`"                          (any "...with `winsctl ...`" tail)
//   any other `winsctl ...` in backquotes, with "run"/"use" and a parenthesised note after it
// What stays is trimmed of the separators (";", ":", ",") left dangling at its end.

const PATTERNS = [
  /[;,]?\s*resume with `winsctl resume [^`]*`(\s*\([^)]*\))?(\s*or\s*`--from [^`]*`)?/g,
  /:\s*winsctl confirm\s+\S+/g,
  /[;,]?\s*[^;,:]*\bwith `winsctl [^`]*`/g,
  /[;,]?\s*(run|use)?\s*`winsctl [^`]*`(\s*\([^)]*\))?/g,
  /[;,:]?\s*\bwinsctl\s+[a-z-]+(\s+[\w.-]+)?/g,
];

export function plainReason(text) {
  let out = String(text || "");
  for (const pattern of PATTERNS) out = out.replace(pattern, "");
  return out.replace(/[\s;:,]+$/, "").trim();
}
