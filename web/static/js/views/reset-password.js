// #/forgot-password and #/reset-password: public views, shown without a session.
//
// The mailed link is {PUBLIC_URL}/#/reset-password?token=...: the token sits in
// the fragment, which browsers never send to a server (no access log, no
// Referer). The view reads it once, then drops it from the address bar and
// the history entry, so it is not left in the tab's history or a bookmark.

import { busy, el, field, viewHeading } from "../dom.js";
import { publicPost } from "../public-api.js";
import { DEFAULT_PATH, defineView, href } from "../router.js";
import { hideLogin } from "./login.js";

const MIN_LENGTH = 8;

defineView({
  path: "/forgot-password",
  title: "Forgot password",
  public: true,
  render({ container, messages, signal }) {
    hideLogin();
    const feedback = messages.place();
    const who = el("input", { name: "account", autocomplete: "username", autocapitalize: "none", spellcheck: "false", required: true });
    const form = el(
      "form",
      { novalidate: true, "aria-label": "Ask for a reset link" },
      ...field("Email address or username", who, "If the account has an email address, a link to choose a new password is mailed to it."),
      el("button", { type: "submit" }, "Mail me a reset link"),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const value = who.value.trim();
      if (!value) return feedback.fail("Enter your email address or username."), who.focus();
      const body = value.includes("@") ? { email: value } : { username: value };
      let answer;
      try {
        answer = await busy(form, () => publicPost("account/password/forgot", body));
      } catch (error) {
        if (!signal.aborted) feedback.fail(error);
        return;
      }
      if (signal.aborted) return;
      feedback.ok(`${answer.detail} The link works once, for a limited time.`);
    });
    container.append(
      el(
        "section",
        { class: "card narrow", "aria-labelledby": "forgot-title" },
        Object.assign(viewHeading("Forgot your password?"), { id: "forgot-title" }),
        form,
        ...feedback.nodes,
        el("p", {}, el("a", { href: href(DEFAULT_PATH) }, "Back to the login")),
      ),
    );
  },
});

defineView({
  path: "/reset-password",
  title: "Choose a new password",
  public: true,
  render({ container, params, messages, signal }) {
    hideLogin();
    const token = params.get("token") ?? "";
    // Out of the address bar and this history entry at once; kept only in this closure.
    window.history.replaceState(null, "", href("/reset-password"));
    const feedback = messages.place();
    const fresh = el("input", { type: "password", name: "new-password", autocomplete: "new-password", required: true, minlength: MIN_LENGTH, maxlength: 1024 });
    const again = el("input", { type: "password", name: "new-password-again", autocomplete: "new-password", required: true });
    const form = el(
      "form",
      { novalidate: true, "aria-label": "Choose a new password" },
      ...field("New password", fresh, `At least ${MIN_LENGTH} characters.`),
      ...field("New password, again", again),
      el("button", { type: "submit" }, "Set the new password"),
    );
    const done = el("p", { hidden: true }, el("a", { href: href(DEFAULT_PATH) }, "Log in with the new password"));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (fresh.value.length < MIN_LENGTH) return feedback.fail(`The password needs at least ${MIN_LENGTH} characters.`), fresh.focus();
      if (fresh.value !== again.value) return feedback.fail("The two passwords differ."), again.focus();
      try {
        await busy(form, () => publicPost("account/password/reset", { token, new_password: fresh.value }));
      } catch (error) {
        if (!signal.aborted) feedback.fail(error);
        return;
      }
      if (signal.aborted) return;
      form.hidden = true;
      done.hidden = false;
      feedback.ok("Your password has been changed, and every session of your account has been logged out.");
      done.querySelector("a").focus();
    });
    const body = token
      ? [form, ...feedback.nodes, done]
      : [
          el("p", { class: "error", role: "alert" }, "This address holds no reset token. Open the link from the mail again, or ask for a new one."),
          el("p", {}, el("a", { href: href("/forgot-password") }, "Ask for a new link")),
        ];
    container.append(
      el(
        "section",
        { class: "card narrow", "aria-labelledby": "reset-title" },
        Object.assign(viewHeading("Choose a new password"), { id: "reset-title" }),
        ...body,
      ),
    );
  },
});
