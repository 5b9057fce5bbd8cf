// A client for notes-api that holds the tokens the way a browser page should.
//
// - The access token lives in memory only (this object): a reload forgets it.
// - The refresh token lives in sessionStorage, so a reload of this tab keeps
//   the login; it dies with the tab. See README, "Tokens in a browser".
// - On a 401 the client refreshes once and retries the request once; if the
//   refresh fails the session ends ("sessionend" event) and the caller gets a
//   SessionEndedError.
// - A 401 whose WWW-Authenticate says insufficient_user_authentication (RFC
//   9470) is not an expired token: refreshing would bring the same methods
//   back. The client does not refresh; it throws StepUpRequiredError and
//   dispatches "stepup", so the page asks for a login with the second factor.
// - Refresh tokens rotate and a reused one revokes the whole login, so
//   concurrent requests must never refresh in parallel: they share the one
//   refresh in flight.

const STORAGE_KEY = "notes-api.refresh";

export class ApiError extends Error {
  constructor(status, message, body = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.body = body;
  }

  static async fromResponse(response) {
    let body = null;
    try {
      body = await response.json();
    } catch {
      // not JSON: keep the status line
    }
    return new ApiError(response.status, describeError(response, body), body);
  }
}

export class SessionEndedError extends ApiError {
  constructor(message = "Your session has ended. Please log in again.") {
    super(401, message);
    this.name = "SessionEndedError";
  }
}

/** The password was right; the login goes on with a second factor and this mfa_token. */
export class MfaRequiredError extends ApiError {
  constructor(body) {
    super(403, body.error_description, body);
    this.name = "MfaRequiredError";
    this.mfaToken = body.mfa_token;
  }
}

/** The route needs a login with a second factor (RFC 9470 step-up). */
export class StepUpRequiredError extends ApiError {
  constructor(description) {
    super(401, description || "This needs a login with your second factor.");
    this.name = "StepUpRequiredError";
  }
}

export const MFA_OTP_GRANT = "urn:notes-api:params:oauth:grant-type:mfa-otp";
export const MFA_RECOVERY_GRANT = "urn:notes-api:params:oauth:grant-type:mfa-recovery-code";

/** The error_description of an insufficient_user_authentication challenge, else null. */
export function stepUpChallenge(response) {
  const header = response.headers.get("WWW-Authenticate") ?? "";
  if (!/error="insufficient_user_authentication"/.test(header)) return null;
  const description = /error_description="([^"]*)"/.exec(header);
  return description ? description[1] : "";
}

function describeError(response, body) {
  if (body && typeof body.error_description === "string") return body.error_description;
  if (body && typeof body.detail === "string") return body.detail;
  if (body && Array.isArray(body.detail)) {
    return body.detail
      .map((item) => {
        const field = Array.isArray(item.loc) ? item.loc[item.loc.length - 1] : "";
        return field ? `${field}: ${item.msg}` : String(item.msg);
      })
      .join("; ");
  }
  if (response.status === 429) return "Too many attempts; try again later.";
  return `The server answered ${response.status} ${response.statusText}`.trim();
}

function networkError(error) {
  return new ApiError(0, "Cannot reach the server. Check the connection and the API base URL.", {
    cause: String(error),
  });
}

export class ApiClient extends EventTarget {
  #base;
  #storage;
  #accessToken = null;
  #refreshInFlight = null;

  /** @param {string} base absolute URL the API paths are resolved against, ending in "/" */
  constructor(base, storage = window.sessionStorage) {
    super();
    this.#base = base.endsWith("/") ? base : `${base}/`;
    this.#storage = storage;
  }

  get base() {
    return this.#base;
  }

  /** True when a refresh token is stored for this API: the login may be restored. */
  get hasSession() {
    return this.#accessToken !== null || this.#storedRefreshToken() !== null;
  }

  url(path, query = {}) {
    const url = new URL(path.replace(/^\//, ""), this.#base);
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
    }
    return url;
  }

  /**
   * OAuth2 password grant. Throws MfaRequiredError when the account has a second
   * factor (then call loginSecondFactor), ApiError with the server's words otherwise.
   */
  async login(username, password) {
    let tokens;
    try {
      tokens = await this.#tokenRequest({ grant_type: "password", username, password });
    } catch (error) {
      if (error.status === 403 && error.body?.error === "mfa_required") {
        throw new MfaRequiredError(error.body);
      }
      throw error;
    }
    this.#keep(tokens);
  }

  /** The second step: a code from the authenticator app, or (`recovery`) a recovery code. */
  async loginSecondFactor(mfaToken, code, { recovery = false } = {}) {
    const form = recovery
      ? { grant_type: MFA_RECOVERY_GRANT, mfa_token: mfaToken, recovery_code: code }
      : { grant_type: MFA_OTP_GRANT, mfa_token: mfaToken, otp: code };
    this.#keep(await this.#tokenRequest(form));
  }

  /** Revoke the login on the server (best effort) and forget both tokens. */
  async logout() {
    const refreshToken = this.#storedRefreshToken();
    this.#forget();
    if (refreshToken === null) return;
    try {
      await fetch(this.url("token/revoke"), {
        method: "POST",
        body: new URLSearchParams({ token: refreshToken, token_type_hint: "refresh_token" }),
        credentials: "omit",
        cache: "no-store",
      });
    } catch {
      // Offline: the tokens are forgotten here anyway and expire on the server.
    }
  }

  get(path, query) {
    return this.request("GET", path, { query });
  }

  post(path, json) {
    return this.request("POST", path, { json });
  }

  patch(path, json) {
    return this.request("PATCH", path, { json });
  }

  put(path) {
    return this.request("PUT", path);
  }

  delete(path, json) {
    return this.request("DELETE", path, { json });
  }

  /**
   * A call with the access token; one refresh and one retry on a 401. Resolves to the JSON
   * body. A step-up challenge throws StepUpRequiredError; with `probe` no "stepup" event is
   * sent (the caller only asks whether something is allowed).
   */
  async request(method, path, { json, query, probe = false } = {}) {
    let token = this.#accessToken ?? (await this.#refreshOnce(null));
    let response = await this.#send(method, path, json, query, token);
    this.#checkStepUp(response, probe);
    if (response.status === 401) {
      token = await this.#refreshOnce(token);
      response = await this.#send(method, path, json, query, token);
      this.#checkStepUp(response, probe);
      if (response.status === 401) {
        this.#endSession();
        throw new SessionEndedError();
      }
    }
    if (!response.ok) throw await ApiError.fromResponse(response);
    return response.status === 204 ? null : response.json();
  }

  #checkStepUp(response, probe) {
    if (response.status !== 401) return;
    const description = stepUpChallenge(response);
    if (description === null) return;
    const error = new StepUpRequiredError(description);
    if (!probe) this.dispatchEvent(new CustomEvent("stepup", { detail: error.message }));
    throw error;
  }

  async #send(method, path, json, query, token) {
    const headers = { Authorization: `Bearer ${token}` };
    let body;
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(json);
    }
    try {
      return await fetch(this.url(path, query), {
        method,
        headers,
        body,
        credentials: "omit",
        cache: "no-store",
      });
    } catch (error) {
      throw networkError(error);
    }
  }

  /**
   * A fresh access token. `staleToken` is the one that just failed: if another
   * request has already replaced it, that new token is used without refreshing
   * again. Every caller during a refresh waits for the same one.
   */
  #refreshOnce(staleToken) {
    if (this.#accessToken !== null && this.#accessToken !== staleToken) {
      return Promise.resolve(this.#accessToken);
    }
    if (this.#refreshInFlight === null) {
      this.#refreshInFlight = this.#refresh().finally(() => {
        this.#refreshInFlight = null;
      });
    }
    return this.#refreshInFlight;
  }

  async #refresh() {
    const refreshToken = this.#storedRefreshToken();
    if (refreshToken === null) {
      this.#endSession();
      throw new SessionEndedError();
    }
    let tokens;
    try {
      tokens = await this.#tokenRequest({ grant_type: "refresh_token", refresh_token: refreshToken });
    } catch (error) {
      // 400 invalid_grant: expired, revoked or reused; the login is over. Anything
      // else (offline, 503) may pass: keep the refresh token for the next try.
      if (error.status === 400 || error.status === 401) {
        this.#endSession();
        throw new SessionEndedError();
      }
      throw error;
    }
    this.#keep(tokens);
    return this.#accessToken;
  }

  async #tokenRequest(form) {
    let response;
    try {
      response = await fetch(this.url("token"), {
        method: "POST",
        body: new URLSearchParams(form),
        credentials: "omit",
        cache: "no-store",
      });
    } catch (error) {
      throw networkError(error);
    }
    if (!response.ok) throw await ApiError.fromResponse(response);
    return response.json();
  }

  #keep(tokens) {
    this.#accessToken = tokens.access_token;
    this.#storage.setItem(
      STORAGE_KEY,
      JSON.stringify({ api: this.#base, refreshToken: tokens.refresh_token }),
    );
  }

  #storedRefreshToken() {
    try {
      const stored = JSON.parse(this.#storage.getItem(STORAGE_KEY) ?? "null");
      return stored && stored.api === this.#base ? stored.refreshToken : null;
    } catch {
      return null;
    }
  }

  #forget() {
    this.#accessToken = null;
    this.#storage.removeItem(STORAGE_KEY);
  }

  #endSession() {
    const hadSession = this.hasSession;
    this.#forget();
    if (hadSession) this.dispatchEvent(new Event("sessionend"));
  }
}
