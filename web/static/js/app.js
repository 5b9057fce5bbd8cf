// The notes-api demo page: log in, keep notes, and (administrators) manage roles.
// Every piece of user content goes into the page as text (dom.js), never as HTML.

import { ApiClient, ApiError, SessionEndedError } from "./api.js";
import { busy, byId, el, say, uniqueId } from "./dom.js";

const PAGE_SIZE = 20;
const API_BASE_KEY = "notes-api.apiBase";
const ADMIN = "admin";

const view = {
  login: byId("login-view"),
  loginForm: byId("login-form"),
  loginUsername: byId("login-username"),
  loginPassword: byId("login-password"),
  loginError: byId("login-error"),
  serverForm: byId("server-form"),
  apiBase: byId("api-base"),
  apiBaseCurrent: byId("api-base-current"),
  app: byId("app-view"),
  session: byId("session"),
  sessionUser: byId("session-user"),
  sessionRoles: byId("session-roles"),
  refresh: byId("refresh-button"),
  logout: byId("logout-button"),
  noteForm: byId("note-form"),
  noteTitle: byId("note-title"),
  noteBody: byId("note-body"),
  noteSource: byId("note-source"),
  noteError: byId("note-error"),
  filterForm: byId("filter-form"),
  filterSource: byId("filter-source"),
  filterClear: byId("filter-clear"),
  notesTitle: byId("notes-title"),
  notesStatus: byId("notes-status"),
  notesError: byId("notes-error"),
  notesList: byId("notes-list"),
  notesEmpty: byId("notes-empty"),
  notesMore: byId("notes-more"),
  admin: byId("admin-view"),
  adminStatus: byId("admin-status"),
  adminError: byId("admin-error"),
  usersBody: byId("users-body"),
  usersMore: byId("users-more"),
};

let api = null;
let me = null;
let generation = 0; // bumped when a session ends: late answers of an old one are dropped
const notes = { source: "", cursor: null };
const users = { cursor: null, roles: [] };

// ---------------------------------------------------------------- server

function pageDirectory() {
  return new URL(".", document.baseURI).href;
}

/** The API base URL: chosen on this page, else the page's data-api-base, else this site. */
function configuredApiBase() {
  const chosen = window.localStorage.getItem(API_BASE_KEY);
  const fromPage = document.documentElement.dataset.apiBase;
  return new URL(chosen || fromPage || ".", pageDirectory()).href;
}

function connect(base) {
  api = new ApiClient(base);
  api.addEventListener("sessionend", () => {
    showLogin("Your session has ended. Please log in again.");
  });
  const sameSite = new URL(base).origin === window.location.origin;
  view.apiBaseCurrent.textContent = sameSite ? "" : `Server: ${base}`;
  view.apiBase.value = window.localStorage.getItem(API_BASE_KEY) ?? "";
}

function parseApiBase(value) {
  const text = value.trim();
  if (text === "") return null;
  const url = new URL(text);
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new TypeError("not http(s)");
  url.search = "";
  url.hash = "";
  return url.href.endsWith("/") ? url.href : `${url.href}/`;
}

view.serverForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  let base;
  try {
    base = parseApiBase(view.apiBase.value);
  } catch {
    say(view.loginError, "The API base URL must be an http:// or https:// address.");
    view.apiBase.focus();
    return;
  }
  await api.logout();
  if (base === null) window.localStorage.removeItem(API_BASE_KEY);
  else window.localStorage.setItem(API_BASE_KEY, base);
  connect(configuredApiBase());
  say(view.loginError, "");
  view.loginUsername.focus();
});

// ---------------------------------------------------------------- session

function showLogin(message = "") {
  me = null;
  generation += 1;
  view.app.hidden = true;
  view.session.hidden = true;
  view.admin.hidden = true;
  view.notesList.replaceChildren();
  view.usersBody.replaceChildren();
  notes.source = "";
  notes.cursor = null;
  users.cursor = null;
  users.roles = [];
  view.noteForm.reset();
  view.filterSource.value = "";
  view.filterClear.hidden = true;
  for (const message of [view.noteError, view.notesStatus, view.notesError]) say(message, "");
  for (const message of [view.adminStatus, view.adminError]) say(message, "");
  view.login.hidden = false;
  say(view.loginError, message);
  view.loginPassword.value = "";
  view.loginUsername.focus();
}

async function startSession() {
  me = await api.get("identify/me");
  view.sessionUser.textContent = me.username;
  view.sessionRoles.textContent = me.roles.length ? me.roles.join(", ") : "none";
  view.login.hidden = true;
  view.session.hidden = false;
  view.app.hidden = false;
  view.admin.hidden = !isAdmin();
  await Promise.all([loadNotes({ reset: true }), isAdmin() ? loadUsers({ reset: true }) : null]);
}

function isAdmin() {
  return me !== null && me.roles.includes(ADMIN);
}

/** Report an error in `node`; a session that ended has already sent the user to the login form. */
function report(node, error) {
  if (error instanceof SessionEndedError) return;
  if (!(error instanceof ApiError)) console.error(error);
  say(node, error instanceof ApiError ? error.message : "Something went wrong; see the console.");
}

view.loginForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const username = view.loginUsername.value.trim();
  const password = view.loginPassword.value;
  if (!username || !password) {
    say(view.loginError, "Enter your username and password.");
    (username ? view.loginPassword : view.loginUsername).focus();
    return;
  }
  say(view.loginError, "");
  try {
    await busy(view.loginForm, () => api.login(username, password));
  } catch (error) {
    report(view.loginError, error);
    view.loginPassword.focus();
    view.loginPassword.select();
    return;
  }
  view.loginPassword.value = "";
  try {
    await startSession();
    view.noteTitle.focus();
  } catch (error) {
    report(view.loginError, error);
  }
});

view.logout.addEventListener("click", async () => {
  await api.logout();
  showLogin();
});

view.refresh.addEventListener("click", async () => {
  say(view.notesError, "");
  say(view.adminError, "");
  try {
    // Concurrent on purpose: with an expired access token they share one refresh.
    const [identity] = await Promise.all([
      api.get("identify/me"),
      loadNotes({ reset: true }),
      isAdmin() ? loadUsers({ reset: true }) : null,
    ]);
    view.sessionRoles.textContent = identity.roles.length ? identity.roles.join(", ") : "none";
    say(view.notesStatus, "Up to date.");
  } catch (error) {
    report(view.notesError, error);
  }
});

// ---------------------------------------------------------------- notes

function noteMatchesFilter(note) {
  return notes.source === "" || note.source === notes.source;
}

async function loadNotes({ reset = false } = {}) {
  const started = generation;
  const page = await api.get("notes", {
    limit: PAGE_SIZE,
    cursor: reset ? null : notes.cursor,
    source: notes.source || null,
  });
  if (started !== generation) return;
  const items = page.items.map(renderNote);
  if (reset) view.notesList.replaceChildren(...items);
  else view.notesList.append(...items);
  notes.cursor = page.next_cursor;
  view.notesMore.hidden = notes.cursor === null;
  updateEmpty();
}

function updateEmpty() {
  view.notesEmpty.textContent = notes.source ? "No notes with this source." : "No notes yet.";
  view.notesEmpty.hidden = view.notesList.childElementCount > 0;
}

function formatTime(iso) {
  return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

function renderNote(note) {
  const item = el("li", { class: "note", dataset: { noteId: note.id } });
  showNote(item, note);
  return item;
}

function showNote(item, note) {
  const titleId = uniqueId("note-title");
  const meta = el(
    "p",
    { class: "meta" },
    note.source ? el("span", { class: "tag" }, `source: ${note.source}`) : null,
    el("time", { datetime: note.updated_at }, formatTime(note.updated_at)),
  );
  const actions = el(
    "div",
    { class: "actions" },
    el(
      "button",
      {
        type: "button",
        class: "secondary",
        "aria-describedby": titleId,
        onclick: () => editNote(item, note),
      },
      "Edit",
    ),
    el(
      "button",
      {
        type: "button",
        class: "secondary danger",
        "aria-describedby": titleId,
        onclick: () => confirmDelete(item, note),
      },
      "Delete",
    ),
  );
  item.replaceChildren(
    el(
      "article",
      { "aria-labelledby": titleId },
      el("h3", { id: titleId }, note.title),
      meta,
      note.body ? el("p", { class: "body" }, note.body) : null,
      actions,
    ),
  );
}

function field(labelText, control, hint) {
  const id = uniqueId("field");
  control.id = id;
  return [el("label", { for: id }, labelText), control, hint ?? null];
}

function editNote(item, note) {
  const title = el("input", { name: "title", maxlength: 200, required: true });
  const body = el("textarea", { name: "body", rows: 4, maxlength: 100000 });
  const source = el("input", { name: "source", maxlength: 512 });
  title.value = note.title;
  body.value = note.body;
  source.value = note.source ?? "";
  const error = el("p", { class: "error", role: "alert" });
  const form = el(
    "form",
    { class: "edit", novalidate: true, "aria-label": `Edit note ${note.title}` },
    ...field("Title", title),
    ...field("Body", body),
    ...field("Source", source),
    error,
    el(
      "div",
      { class: "actions" },
      el("button", { type: "submit" }, "Save"),
      el(
        "button",
        {
          type: "button",
          class: "secondary",
          onclick: () => {
            showNote(item, note);
            item.querySelector("button").focus();
          },
        },
        "Cancel",
      ),
    ),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!title.value.trim()) {
      say(error, "The title must not be empty.");
      title.focus();
      return;
    }
    try {
      const changed = await busy(form, () =>
        api.patch(`notes/${note.id}`, {
          title: title.value,
          body: body.value,
          source: source.value.trim() || null,
        }),
      );
      showNote(item, changed);
      item.querySelector("button").focus();
      say(view.notesStatus, "Note saved.");
    } catch (error_) {
      report(error, error_);
    }
  });
  item.replaceChildren(form);
  title.focus();
}

function confirmDelete(item, note) {
  const question = el("p", {}, `Delete “${note.title}”?`);
  const cancel = el(
    "button",
    {
      type: "button",
      class: "secondary",
      onclick: () => {
        showNote(item, note);
        item.querySelectorAll("button")[1].focus();
      },
    },
    "Cancel",
  );
  const error = el("p", { class: "error", role: "alert" });
  const confirm = el(
    "button",
    {
      type: "button",
      class: "danger",
      onclick: async () => {
        try {
          await api.delete(`notes/${note.id}`);
        } catch (error_) {
          report(error, error_);
          return;
        }
        item.remove();
        updateEmpty();
        say(view.notesStatus, "Note deleted.");
        view.notesTitle.focus();
      },
    },
    "Yes, delete",
  );
  item.replaceChildren(
    el("div", { class: "confirm" }, question, error, el("div", { class: "actions" }, confirm, cancel)),
  );
  cancel.focus();
}

view.noteForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const title = view.noteTitle.value;
  if (!title.trim()) {
    say(view.noteError, "Give the note a title.");
    view.noteTitle.focus();
    return;
  }
  const payload = { title, body: view.noteBody.value };
  const source = view.noteSource.value.trim();
  if (source) payload.source = source;
  say(view.noteError, "");
  try {
    const note = await busy(view.noteForm, () => api.post("notes", payload));
    if (noteMatchesFilter(note)) {
      view.notesList.prepend(renderNote(note));
      updateEmpty();
    }
    view.noteForm.reset();
    say(view.notesStatus, "Note added.");
    view.noteTitle.focus();
  } catch (error) {
    report(view.noteError, error);
  }
});

view.notesMore.addEventListener("click", async () => {
  say(view.notesError, "");
  try {
    await loadNotes();
  } catch (error) {
    report(view.notesError, error);
  }
});

async function applyFilter(source) {
  notes.source = source;
  view.filterSource.value = source;
  view.filterClear.hidden = source === "";
  say(view.notesError, "");
  try {
    await loadNotes({ reset: true });
    say(
      view.notesStatus,
      source ? `Showing notes with source “${source}”.` : "Showing all notes.",
    );
  } catch (error) {
    report(view.notesError, error);
  }
}

view.filterForm.addEventListener("submit", (event) => {
  event.preventDefault();
  applyFilter(view.filterSource.value.trim());
});

view.filterClear.addEventListener("click", () => {
  applyFilter("");
  view.filterSource.focus();
});

// ---------------------------------------------------------------- administration

async function loadUsers({ reset = false } = {}) {
  const started = generation;
  const [page, roles] = await Promise.all([
    api.get("users", { limit: 50, cursor: reset ? null : users.cursor }),
    reset || users.roles.length === 0 ? api.get("roles") : users.roles,
  ]);
  if (started !== generation) return;
  users.roles = roles;
  const rows = page.items.map((user) => {
    const row = el("tr", { dataset: { userId: user.id } });
    showUser(row, user);
    return row;
  });
  if (reset) view.usersBody.replaceChildren(...rows);
  else view.usersBody.append(...rows);
  users.cursor = page.next_cursor;
  view.usersMore.hidden = users.cursor === null;
}

function showUser(row, user) {
  const self = me !== null && user.id === me.id;
  const roleList = el(
    "ul",
    { class: "roles", "aria-label": `Roles of ${user.username}` },
    ...user.roles.map((role) =>
      el(
        "li",
        { class: "tag" },
        role,
        el(
          "button",
          {
            type: "button",
            class: "chip-remove",
            "aria-label": `Revoke ${role} from ${user.username}`,
            title: `Revoke ${role}`,
            onclick: () => changeUser(row, user, "DELETE", role),
          },
          "×",
        ),
      ),
    ),
  );
  const grantable = users.roles.map((role) => role.name).filter((name) => !user.roles.includes(name));
  const select = el("select", {}, ...grantable.map((name) => el("option", { value: name }, name)));
  const [label, control] = field(`Role to grant to ${user.username}`, select);
  label.className = "visually-hidden";
  const grant = grantable.length
    ? el(
        "form",
        { class: "inline-form" },
        label,
        control,
        el("button", { type: "submit", class: "secondary" }, "Grant"),
      )
    : el("span", { class: "muted" }, "has every role");
  grant.addEventListener("submit", (event) => {
    event.preventDefault();
    changeUser(row, user, "PUT", select.value);
  });
  const toggle = self
    ? null
    : el(
        "button",
        {
          type: "button",
          class: user.disabled ? "secondary" : "secondary danger",
          "aria-label": `${user.disabled ? "Enable" : "Disable"} ${user.username}`,
          onclick: () => changeUser(row, user, "PATCH", !user.disabled),
        },
        user.disabled ? "Enable" : "Disable",
      );
  row.replaceChildren(
    el("th", { scope: "row" }, user.username, self ? el("span", { class: "muted" }, " (you)") : null),
    el("td", {}, user.roles.length ? roleList : el("span", { class: "muted" }, "none")),
    el("td", {}, el("span", { class: user.disabled ? "state off" : "state" }, user.disabled ? "disabled" : "active")),
    el("td", {}, el("div", { class: "actions" }, grant, toggle)),
  );
}

async function changeUser(row, user, method, value) {
  say(view.adminError, "");
  let done;
  try {
    if (method === "PUT") {
      await api.put(`users/${user.id}/roles/${encodeURIComponent(value)}`);
      done = `Granted ${value} to ${user.username}.`;
    } else if (method === "DELETE") {
      await api.delete(`users/${user.id}/roles/${encodeURIComponent(value)}`);
      done = `Revoked ${value} from ${user.username}.`;
    } else {
      await api.patch(`users/${user.id}`, { disabled: value });
      done = `${value ? "Disabled" : "Enabled"} ${user.username}.`;
    }
    const fresh = await api.get(`users/${user.id}`);
    showUser(row, fresh);
    say(view.adminStatus, done);
  } catch (error) {
    report(view.adminError, error);
  }
}

view.usersMore.addEventListener("click", async () => {
  say(view.adminError, "");
  try {
    await loadUsers();
  } catch (error) {
    report(view.adminError, error);
  }
});

// ---------------------------------------------------------------- start

async function start() {
  connect(configuredApiBase());
  if (!api.hasSession) {
    showLogin();
    return;
  }
  try {
    await startSession(); // a reload of this tab: the refresh token in sessionStorage logs in
  } catch (error) {
    // A session that ended has shown the login form already; otherwise (offline,
    // 503) keep the refresh token: logging in again replaces it.
    if (!(error instanceof SessionEndedError)) {
      showLogin(error instanceof ApiError ? error.message : "");
    }
  }
}

start();
