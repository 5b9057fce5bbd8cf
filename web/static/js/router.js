// A small hash router: every view has an address (#/notes, #/admin?...), so
// links, reloads, back and forward work, and nothing but the fragment changes:
// the server only ever serves one page, and a token in a fragment (the reset
// link) never reaches a server log or a Referer header.
//
// A view is one module that calls defineView() when imported (see app.js):
//
//   defineView({
//     path: "/audit",                 // the address, "#/audit"
//     title: "Audit trail",           // document title and nav label
//     nav: 40,                        // position in the top navigation (omit: not listed)
//     public: false,                  // true: shown without a session (a reset form)
//     available: (session) => session.administer,  // omit: any signed-in person
//     render(ctx) { ... },            // builds the view in ctx.container
//   });
//
// render(ctx) gets {container, params, session, api, messages, signal, href,
// navigate}; it may return {update(params)} to take new query parameters of
// the same address without being rebuilt (a filter, a page). `signal` aborts
// when the view is left or the session ends: drop late answers then.

import { el, viewHeading } from "./dom.js";
import { Messages } from "./messages.js";
import { session } from "./session.js";

export const DEFAULT_PATH = "/notes";

const views = new Map();
let outlet = null;
let current = null; // {definition, instance, controller, path, query}
const onRouteHandlers = [];

export function defineView(definition) {
  if (!definition.path?.startsWith("/")) throw new Error("a view path starts with /");
  if (views.has(definition.path)) throw new Error(`two views claim ${definition.path}`);
  views.set(definition.path, definition);
}

export function listedViews() {
  return [...views.values()]
    .filter((view) => typeof view.nav === "number")
    .sort((a, b) => a.nav - b.nav);
}

/** "#/notes?owner=all" for href("/notes", {owner: "all"}); empty values are left out. */
export function href(path, params = {}) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") query.set(name, String(value));
  }
  const text = query.toString();
  return `#${path}${text ? `?${text}` : ""}`;
}

/** Go to an address; it becomes a history entry, so Back returns here. */
export function navigate(path, params = {}) {
  const target = href(path, params);
  if (window.location.hash === target) route();
  else window.location.hash = target;
}

export function currentRoute() {
  const hash = window.location.hash.replace(/^#/, "");
  const [path, query = ""] = hash.split(/\?(.*)/s, 2);
  return { path: path || DEFAULT_PATH, params: new URLSearchParams(query) };
}

/** Called after every route with the definition shown (nav highlighting). */
export function onRoute(handler) {
  onRouteHandlers.push(handler);
}

let needSession = () => {};

/** `signIn()` is called when an address needs a session the page does not have. */
export function startRouter(container, signIn) {
  outlet = container;
  needSession = signIn;
  window.addEventListener("hashchange", () => route());
  session.addEventListener("end", () => leave());
  if (!window.location.hash.startsWith("#/")) {
    window.history.replaceState(null, "", href(DEFAULT_PATH));
  }
}

/** Leave the current view (signed out): nothing of it stays in the page. */
export function leave() {
  if (current !== null) current.controller.abort();
  current = null;
  outlet?.replaceChildren();
}

/**
 * Show the view of the current address. Returns false when it needs a session
 * the page does not have (the caller shows the login form, then routes again).
 */
export function route() {
  const { path, params } = currentRoute();
  const definition = views.get(path) ?? notFound;
  if (!definition.public && !session.signedIn) {
    leave();
    needSession();
    return false;
  }
  const query = params.toString();
  if (current !== null && current.definition === definition && current.path === path) {
    if (query === current.query) return true;
    if (typeof current.instance?.update === "function") {
      current.query = query;
      current.instance.update(params);
      return true;
    }
  }
  show(definition, path, params);
  return true;
}

function show(definition, path, params) {
  if (current !== null) current.controller.abort();
  const controller = new AbortController();
  const container = el("div", { class: "view", dataset: { view: path } });
  outlet.replaceChildren(container);
  const allowed = !definition.available || definition.available(session);
  const shown = allowed ? definition : forbidden;
  current = { definition, instance: null, controller, path, query: params.toString() };
  document.title = `${shown.title} · notes-api`;
  const ctx = {
    container,
    params,
    session,
    api: session.api,
    messages: new Messages(),
    signal: controller.signal,
    href,
    navigate,
  };
  try {
    current.instance = shown.render(ctx) ?? null;
  } catch (error) {
    console.error(error);
    container.replaceChildren(el("p", { class: "error", role: "alert" }, "This view failed to open."));
  }
  container.querySelector(".view-title")?.focus();
  for (const handler of onRouteHandlers) handler(definition);
}

const notFound = {
  title: "Not found",
  render({ container }) {
    container.append(
      el(
        "section",
        { class: "card", "aria-labelledby": "not-found-title" },
        Object.assign(viewHeading("Page not found"), { id: "not-found-title" }),
        el("p", {}, "There is nothing at this address. ", el("a", { href: href(DEFAULT_PATH) }, "Go to your notes"), "."),
      ),
    );
  },
};

const forbidden = {
  title: "Not available",
  render({ container }) {
    container.append(
      el(
        "section",
        { class: "card", "aria-labelledby": "forbidden-title" },
        Object.assign(viewHeading("Not available to your account"), { id: "forbidden-title" }),
        el(
          "p",
          {},
          "The server does not let your account use this page. ",
          el("a", { href: href(DEFAULT_PATH) }, "Go to your notes"),
          ".",
        ),
      ),
    );
  },
};
