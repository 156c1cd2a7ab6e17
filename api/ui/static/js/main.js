// The shell: sign-in, sign-out and the top bar, wired to the hash router (router.js), which
// loads one view module per page.

import { api, onSignedOut } from "./api.js";
import { add, clear, field, fill, h, message } from "./dom.js";
import { createRouter } from "./router.js";

let me = null;
const main = () => document.getElementById("main");
const router = createRouter({ main, user: () => me, signIn: () => signIn() });

function signIn(problem) {
  document.getElementById("top").hidden = true;
  document.title = "Sign in · Winslow";
  const user = h("input", { name: "user", autocomplete: "username", spellcheck: false });
  const token = h("input", { name: "token", type: "password", required: true, autocomplete: "current-password" });
  const status = h("div", { class: "status" }, problem ? message("error", problem) : null);
  const form = h(
    "form",
    { class: "signin card", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, h("img", { src: "/ui/icon.svg", alt: "", width: 28, height: 28 }), " Winslow"),
    h("p", { class: "muted" }, "Sign in with the token an admin gave you (", h("code", {}, "winslow user add NAME"), ")."),
    field("User name (optional)", user),
    field("Token", token),
    status,
    h("button", { type: "submit", class: "primary" }, "Sign in"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(status);
    try {
      me = await api.post("/api/v1/session", { token: token.value, user: user.value || null });
      start();
    } catch (error) {
      add(status, message("error", error.message));
      token.select();
    }
  });
  fill(main(), h("div", { class: "center" }, form));
  (user.value ? token : user).focus();
}

function start() {
  document.getElementById("top").hidden = false;
  document.getElementById("who").textContent = `${me.name}${me.admin ? " (admin)" : ""}`;
  router.show();
}

async function signOut() {
  try {
    await api.del("/api/v1/session");
  } finally {
    me = null;
    router.leave();
    signIn();
  }
}

onSignedOut(() => {
  if (!me) return;
  me = null;
  router.leave();
  signIn("Your session ended; sign in again.");
});

async function boot() {
  document.getElementById("signout").addEventListener("click", signOut);
  router.listen();
  try {
    me = await api.get("/api/v1/whoami");
  } catch {
    me = null;
  }
  if (me) start();
  else signIn();
}

boot();
