// The login form and the choice of server (the markup is in index.html, so the
// form is there before any script runs and password managers find it).

import { busy, byId, say } from "../dom.js";
import { describe } from "../messages.js";
import { session, chooseApiBase, chosenApiBase } from "../session.js";

const view = {
  login: byId("login-view"),
  form: byId("login-form"),
  username: byId("login-username"),
  password: byId("login-password"),
  error: byId("login-error"),
  serverForm: byId("server-form"),
  apiBase: byId("api-base"),
  apiBaseCurrent: byId("api-base-current"),
};

let loggedIn = () => {};

/** Show the login form (with a message, e.g. why the session ended). */
export function showLogin(message = "") {
  view.login.hidden = false;
  say(view.error, message);
  view.password.value = "";
  view.username.focus();
}

export function hideLogin() {
  view.login.hidden = true;
  say(view.error, "");
}

function showServer() {
  view.apiBaseCurrent.textContent = session.sameSite ? "" : `Server: ${session.api.base}`;
  view.apiBase.value = chosenApiBase();
}

/** Wire the forms; `onLoggedIn()` runs after a successful login. */
export function initLogin(onLoggedIn) {
  loggedIn = onLoggedIn;
  showServer();
}

view.form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const username = view.username.value.trim();
  const password = view.password.value;
  if (!username || !password) {
    say(view.error, "Enter your username and password.");
    (username ? view.password : view.username).focus();
    return;
  }
  say(view.error, "");
  try {
    await busy(view.form, () => session.login(username, password));
  } catch (error) {
    say(view.error, describe(error));
    view.password.focus();
    view.password.select();
    return;
  }
  view.password.value = "";
  hideLogin();
  loggedIn();
});

view.serverForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    chooseApiBase(view.apiBase.value);
  } catch {
    say(view.error, "The API base URL must be an http:// or https:// address.");
    view.apiBase.focus();
    return;
  }
  await session.logout();
  session.connect();
  showServer();
  say(view.error, "");
  view.username.focus();
});
