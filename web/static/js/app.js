// The notes-api page: one shell (header, navigation, login form) and one module
// per view under views/, each with its own address (router.js). Every piece of
// user content goes into the page as text (dom.js), never as HTML.

import { SessionEndedError } from "./api.js";
import { byId, el } from "./dom.js";
import { describe } from "./messages.js";
import { DEFAULT_PATH, href, listedViews, onRoute, route, startRouter } from "./router.js";
import { session } from "./session.js";
import { hideLogin, initLogin, showLogin } from "./views/login.js";
// Importing a view module registers its view; the order of `nav` sets the menu.
import "./views/notes.js";
import "./views/account.js";
import "./views/account-tokens.js";
import "./views/account-password.js";
import "./views/account-sessions.js";
import "./views/reset-password.js";
import "./views/second-factor.js";
import "./views/admin.js";
import "./views/audit.js";

const shell = {
  session: byId("session"),
  user: byId("session-user"),
  roles: byId("session-roles"),
  logout: byId("logout-button"),
  nav: byId("nav"),
  navList: byId("nav-list"),
  outlet: byId("view"),
};

function renderHeader() {
  const me = session.me;
  shell.session.hidden = me === null;
  shell.nav.hidden = me === null;
  if (me === null) {
    shell.navList.replaceChildren();
    return;
  }
  shell.user.textContent = me.username;
  shell.roles.textContent = me.roles.length ? me.roles.join(", ") : "none";
  const links = listedViews()
    .filter((view) => !view.available || view.available(session))
    .map((view) => el("li", {}, el("a", { href: href(view.path), dataset: { path: view.path } }, view.title)));
  shell.navList.replaceChildren(...links);
  markCurrent();
}

function markCurrent(definition) {
  const path = definition?.path ?? window.location.hash.replace(/^#/, "").split("?")[0];
  for (const link of shell.navList.querySelectorAll("a")) {
    if (link.dataset.path === path) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

session.addEventListener("change", renderHeader);
session.addEventListener("end", (event) => {
  renderHeader();
  showLogin(event.detail);
});
// A call needed a login with the second factor (RFC 9470): this login cannot do it, so
// it ends and the person logs in again; the address stays, so they come back to it.
session.addEventListener("stepup", async (event) => {
  await session.logout();
  showLogin(`${event.detail} Log in again with your second factor.`);
});
onRoute(markCurrent);

shell.logout.addEventListener("click", async () => {
  // The next person on this tab starts at the default address, not at our filters.
  window.history.replaceState(null, "", href(DEFAULT_PATH));
  await session.logout();
});

async function start() {
  session.connect();
  initLogin(() => route());
  startRouter(shell.outlet, () => showLogin());
  if (!session.api.hasSession) {
    route(); // a public view (the reset link) opens; any other address asks to log in
    return;
  }
  try {
    await session.identify(); // a reload of this tab: the refresh token in sessionStorage logs in
  } catch (error) {
    // A session that ended has shown the login form already; otherwise (offline,
    // 503) keep the refresh token: logging in again replaces it.
    if (!(error instanceof SessionEndedError)) showLogin(describe(error));
    return;
  }
  hideLogin();
  route();
}

start();
