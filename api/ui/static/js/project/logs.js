// The log tab: the live log of one StageRun (?run=NAME, else the newest), picked from the runs.

import { followLog } from "../log.js";
import { link } from "../router.js";

export function logs({ name, query, body, state }) {
  const stream = followLog(body, {
    runs: () => state.runs,
    chosen: query.get("run"),
    onPick: (run) => window.history.replaceState(null, "", link(["projects", name, "logs"], run ? { run } : {})),
  });
  body.refresh = stream.refresh;
  return stream.stop;
}
