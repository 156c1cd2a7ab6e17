// The files tab: the project's workspace on the share (?path=... within it).

import { fileBrowser } from "../files.js";
import { link } from "../router.js";

export function files({ name, query, body }) {
  body.refresh = null;
  const path = query.get("path") || `workspaces/${name}`;
  return fileBrowser(body, {
    path,
    base: `workspaces/${name}`,
    go: (next) => window.history.replaceState(null, "", link(["projects", name, "files"], { path: next })),
  });
}
