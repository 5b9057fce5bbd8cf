// Who is signed in, and what the server lets them do.
//
// The page never spells a role name. What a person may do is asked of the
// API: `GET /identify/me` tells the roles the token carries (shown as text),
// `GET /roles` answers 200 to an administrator (with the roles to offer in
// the forms) and 403 to anyone else, and `GET /notes` answers 403 to someone
// without a role that lets them keep notes (the notes view explains it).

import { ApiClient, ApiError, StepUpRequiredError } from "./api.js";

const API_BASE_KEY = "notes-api.apiBase";

function pageDirectory() {
  return new URL(".", document.baseURI).href;
}

/** The API base URL: chosen on this page, else the page's data-api-base, else this site. */
export function configuredApiBase() {
  const chosen = window.localStorage.getItem(API_BASE_KEY);
  const fromPage = document.documentElement.dataset.apiBase;
  return new URL(chosen || fromPage || ".", pageDirectory()).href;
}

export function chosenApiBase() {
  return window.localStorage.getItem(API_BASE_KEY) ?? "";
}

/** Remember the API base URL typed on the login form ("" forgets it). Throws TypeError. */
export function chooseApiBase(value) {
  const text = value.trim();
  if (text === "") {
    window.localStorage.removeItem(API_BASE_KEY);
    return;
  }
  const url = new URL(text);
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new TypeError("not http(s)");
  url.search = "";
  url.hash = "";
  window.localStorage.setItem(API_BASE_KEY, url.href.endsWith("/") ? url.href : `${url.href}/`);
}

/**
 * The one session of the page. Events: "change" (signed in, identity or
 * capabilities re-read), "end" (logged out or the session ended).
 */
class Session extends EventTarget {
  api = null;
  /** {id, username, roles} from GET /identify/me, or null when signed out. */
  me = null;
  /** True when GET /roles answered 200: the administration views are offered. */
  administer = false;
  /** The server's words when administration needs a login with a second factor, else "". */
  stepUpNeeded = "";
  /** [{name, description}] for administrators (from GET /roles), else []. */
  roles = [];
  /** Bumped whenever the session ends: late answers of an older one are dropped. */
  generation = 0;
  #usernames = new Map();

  connect(base = configuredApiBase()) {
    this.api = new ApiClient(base);
    this.api.addEventListener("sessionend", () => this.#ended(true));
    // Event "stepup": a call needs a login with the second factor (app.js asks for one).
    this.api.addEventListener("stepup", (event) => {
      this.dispatchEvent(new CustomEvent("stepup", { detail: event.detail }));
    });
  }

  get signedIn() {
    return this.me !== null;
  }

  get sameSite() {
    return new URL(this.api.base).origin === window.location.origin;
  }

  /** Throws MfaRequiredError (with its mfaToken) when a second step is due. */
  async login(username, password) {
    await this.api.login(username, password);
    await this.identify();
  }

  async loginSecondFactor(mfaToken, code, options) {
    await this.api.loginSecondFactor(mfaToken, code, options);
    await this.identify();
  }

  async logout() {
    await this.api.logout();
    this.#ended(false);
  }

  /** Read (again) who this is and whether they administer; concurrent on purpose, so an
   * expired access token is refreshed once for both. */
  async identify() {
    const started = this.generation;
    const [me, roles] = await Promise.all([this.api.get("identify/me"), this.#probeRoles()]);
    if (started !== this.generation) return;
    this.me = me;
    this.administer = Array.isArray(roles);
    this.stepUpNeeded = roles instanceof StepUpRequiredError ? roles.message : "";
    this.roles = Array.isArray(roles) ? roles : [];
    this.dispatchEvent(new Event("change"));
  }

  /** Roles changed on the server (created or deleted in the administration view). */
  setRoles(roles) {
    this.roles = roles;
  }

  /** The roles (an administrator), null (403), or the StepUpRequiredError of a role that
   * needs a second factor this login lacks (offered in the account view, not forced). */
  async #probeRoles() {
    try {
      return await this.api.request("GET", "roles", { probe: true });
    } catch (error) {
      if (error instanceof StepUpRequiredError) return error;
      if (error instanceof ApiError && error.status === 403) return null;
      throw error;
    }
  }

  /** A user's name for an administrator's lists (GET /users/{id}, cached per session). */
  async username(id) {
    if (id === null || id === undefined) return null;
    if (this.me !== null && id === this.me.id) return this.me.username;
    if (!this.#usernames.has(id)) {
      const lookup = this.api.get(`users/${id}`).then(
        (user) => user.username,
        () => null,
      );
      this.#usernames.set(id, lookup);
    }
    return this.#usernames.get(id);
  }

  rememberUsername(id, username) {
    this.#usernames.set(id, Promise.resolve(username));
  }

  #ended(byServer) {
    const wasSignedIn = this.me !== null || byServer;
    this.me = null;
    this.administer = false;
    this.stepUpNeeded = "";
    this.roles = [];
    this.generation += 1;
    this.#usernames.clear();
    if (wasSignedIn) {
      const detail = byServer ? "Your session has ended. Please log in again." : "";
      this.dispatchEvent(new CustomEvent("end", { detail }));
    }
  }
}

export const session = new Session();
