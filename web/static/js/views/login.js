// The login form and the choice of server (the markup is in index.html, so the
// form is there before any script runs and password managers find it). For an
// account with a second factor the password step is followed by a code step
// (a code from the authenticator app, or a recovery code).

import { MfaRequiredError } from "../api.js";
import { busy, byId, say } from "../dom.js";
import { describe } from "../messages.js";
import { session, chooseApiBase, chosenApiBase } from "../session.js";

const view = {
  login: byId("login-view"),
  form: byId("login-form"),
  username: byId("login-username"),
  password: byId("login-password"),
  error: byId("login-error"),
  mfaForm: byId("login-mfa-form"),
  mfaTitle: byId("login-mfa-title"),
  mfaHint: byId("login-mfa-hint"),
  codeLabel: byId("login-code-label"),
  code: byId("login-code"),
  mfaError: byId("login-mfa-error"),
  mfaSwitch: byId("login-mfa-switch"),
  mfaCancel: byId("login-mfa-cancel"),
  serverForm: byId("server-form"),
  apiBase: byId("api-base"),
  apiBaseCurrent: byId("api-base-current"),
};

let loggedIn = () => {};
/** The second step in progress: {mfaToken, recovery}, or null. */
let secondStep = null;

/** Show the login form (with a message, e.g. why the session ended). */
export function showLogin(message = "") {
  view.login.hidden = false;
  showPasswordStep();
  say(view.error, message);
  view.password.value = "";
  view.username.focus();
}

export function hideLogin() {
  view.login.hidden = true;
  say(view.error, "");
  showPasswordStep();
}

function showPasswordStep() {
  secondStep = null;
  view.form.hidden = false;
  view.mfaForm.hidden = true;
  view.code.value = "";
  say(view.mfaError, "");
}

function showSecondStep(mfaToken) {
  secondStep = { mfaToken, recovery: false };
  view.form.hidden = true;
  view.mfaForm.hidden = false;
  showCodeKind();
  view.code.focus();
}

function showCodeKind() {
  const recovery = secondStep.recovery;
  view.codeLabel.textContent = recovery ? "Recovery code" : "Code";
  view.mfaHint.textContent = recovery
    ? "Enter one of the recovery codes you saved when you set up the second factor. Each works once."
    : "Enter the 6-digit code your authenticator app shows for notes-api.";
  view.code.inputMode = recovery ? "text" : "numeric";
  view.code.autocomplete = recovery ? "off" : "one-time-code";
  view.mfaSwitch.textContent = recovery ? "Use a code from the app instead" : "Use a recovery code instead";
  view.code.value = "";
  say(view.mfaError, "");
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

function finish() {
  view.password.value = "";
  hideLogin();
  loggedIn();
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
    if (error instanceof MfaRequiredError) {
      view.password.value = "";
      showSecondStep(error.mfaToken);
      return;
    }
    say(view.error, describe(error));
    view.password.focus();
    view.password.select();
    return;
  }
  finish();
});

view.mfaForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const code = view.code.value.trim();
  if (!code) {
    say(view.mfaError, secondStep.recovery ? "Enter a recovery code." : "Enter the code.");
    view.code.focus();
    return;
  }
  say(view.mfaError, "");
  try {
    await busy(view.mfaForm, () =>
      session.loginSecondFactor(secondStep.mfaToken, code, { recovery: secondStep.recovery }),
    );
  } catch (error) {
    const words = error.status === 400
      ? "That code was not accepted. Try the current code; after 5 wrong codes or 5 minutes, start over."
      : describe(error);
    say(view.mfaError, words);
    view.code.focus();
    view.code.select();
    return;
  }
  finish();
});

view.mfaSwitch.addEventListener("click", () => {
  secondStep.recovery = !secondStep.recovery;
  showCodeKind();
  view.code.focus();
});

view.mfaCancel.addEventListener("click", () => {
  showPasswordStep();
  view.password.focus();
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
